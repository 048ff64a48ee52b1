"""Render the monitoring files (Prometheus config and rules, Alertmanager config, Grafana
provisioning and dashboard) from `templates/` for the embedded stack or for compose.yaml: one set of
templates, two targets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from volctl.core.monitoring import alert_rules
from volctl.domain.errors import ConfigError
from volctl.domain.files import write_atomically
from volctl.domain.incidents import ALERTMANAGER_USER, alertmanager_password, receiver_secret
from volctl.domain.model_admin import read_admin_token
from volctl.domain.settings import AlertmanagerSettings, Settings
from volctl.domain.topology import CONSUME, PREDICT, scrape_targets_path
from volctl.reports.templating import render

FLAVOURS = ("embedded", "compose")
COMPOSE_RULES = "/etc/prometheus/rules.yml"
COMPOSE_DASHBOARDS = "/var/lib/grafana/dashboards"


@dataclass
class RenderedFiles:
    prometheus_config: Path
    rules: Path
    dashboard: Path
    datasource: Path
    dashboard_provider: Path
    alertmanager_config: Path
    alertmanager_web: Path | None = None  # its API's credentials (embedded): re-read by it on every request
    # The files whose text differs from what the folder held: only their readers need a reload. A
    # reload is not free: Prometheus forgets its Alertmanagers for a few seconds, and an alert resolved
    # then is sent again only after its 1-minute resend delay.
    changed: frozenset[Path] = frozenset()

    def all(self) -> list[Path]:
        return [self.prometheus_config, self.rules, self.dashboard, self.datasource, self.dashboard_provider,
                self.alertmanager_config, *([self.alertmanager_web] if self.alertmanager_web else [])]

    @property
    def prometheus_changed(self) -> bool:
        return bool({self.prometheus_config, self.rules} & self.changed)

    @property
    def alertmanager_changed(self) -> bool:
        return self.alertmanager_config in self.changed


def render_monitoring(settings: Settings, flavour: str, out_dir: Path) -> RenderedFiles:
    if flavour not in FLAVOURS:
        raise ConfigError(f"unknown flavour {flavour!r}", hint=f"one of {', '.join(FLAVOURS)}")
    files = RenderedFiles(
        out_dir / "prometheus" / "prometheus.yml", out_dir / "prometheus" / "rules.yml",
        out_dir / "grafana" / "dashboards" / "volctl.json",
        out_dir / "grafana" / "provisioning" / "datasources" / "volctl.yml",
        out_dir / "grafana" / "provisioning" / "dashboards" / "volctl.yml",
        out_dir / "alertmanager" / "alertmanager.yml",
    )
    embedded = flavour == "embedded"
    token = read_admin_token(settings)
    password = alertmanager_password(token) if embedded and settings.alertmanager.embedded else ""
    jobs = ([{"name": service, "file": str(scrape_targets_path(settings, service).resolve())}
             for service in (PREDICT, CONSUME)] if embedded
            else [{"name": PREDICT, "file": None, "dns_name": "predict", "port": 8000},
                  {"name": CONSUME, "file": None, "dns_name": "consume", "port": 8001}])
    texts = {
        files.prometheus_config: render(
            "prometheus/prometheus.yml.j2", flavour=flavour, scrape_interval=settings.prometheus.scrape_interval,
            rules_file=str(files.rules.resolve()) if embedded else COMPOSE_RULES, jobs=jobs,
            alertmanager=settings.alertmanager.url.split("://", 1)[1].rstrip("/") if embedded else "alertmanager:9093",
            alertmanager_auth={"username": ALERTMANAGER_USER, "password": password} if password else None),
        files.rules: render("prometheus/rules.yml.j2", recordings=alert_rules.recordings(settings.slo),
                            alerts=alert_rules.rendered_alerts(settings)),
        files.dashboard: render("grafana/dashboard.json.j2", panels=alert_rules.dashboard_panels(settings.slo)),
        files.datasource: render("grafana/datasource.yml.j2",
                                 prometheus_url=settings.prometheus.url if embedded else "http://prometheus:9090"),
        files.dashboard_provider: render("grafana/dashboards.yml.j2", dashboards_path=(
            str(files.dashboard.parent.resolve()) if embedded else COMPOSE_DASHBOARDS)),
        files.alertmanager_config: render_alertmanager(settings.alertmanager, flavour,
                                                       receiver_secret(token)),
    }
    changed = set()
    for path, text in texts.items():
        _parse(path, text)  # a template bug fails here, not inside Prometheus or Grafana
        if path.is_file() and path.read_text() == text:
            continue
        write_atomically(path, text)  # a running Prometheus may read it at any moment
        changed.add(path)
    if password:
        files.alertmanager_web = out_dir / "alertmanager" / "web.yml"
        if _write_web_config(files.alertmanager_web, password):
            changed.add(files.alertmanager_web)
    files.changed = frozenset(changed)
    return files


def _write_web_config(path: Path, password: str) -> bool:
    """Alertmanager's web config: basic auth on its whole API (a silence from anyone on the machine
    was taken), the password as a bcrypt hash. Kept while it still matches: a hash is salted, and
    a new one for the same password would look like a change. Cost 4, bcrypt's least: the password
    is a 256-bit secret, and Alertmanager checks it on every request."""
    import bcrypt

    try:
        held = yaml.safe_load(path.read_text())["basic_auth_users"][ALERTMANAGER_USER]
        if bcrypt.checkpw(password.encode(), held.encode()):
            return False
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError):
        pass  # none yet, or not one of ours: written afresh
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    write_atomically(path, "# Rendered by volctl: the embedded Alertmanager's API credentials (user "
                     f"{ALERTMANAGER_USER}, password derived from the admin token).\n"
                     + yaml.safe_dump({"basic_auth_users": {ALERTMANAGER_USER: hashed}}))
    return True


def render_alertmanager(alerting: AlertmanagerSettings, flavour: str, secret: str) -> str:
    """Alertmanager's config: volctl's receiver always (with its bearer token: only this
    Alertmanager posts there); the configured webhooks, Slack and e-mail for pages, Slack for tickets."""
    slack = {"api_url": alerting.slack_api_url, "channel": alerting.slack_channel} if alerting.slack_api_url else None
    receivers = [{"name": "volctl", "webhooks": [], "slack": None, "email": ""},
                 {"name": "page", "webhooks": alerting.webhook_urls, "slack": slack, "email": alerting.email_to},
                 {"name": "ticket", "webhooks": [], "slack": slack, "email": ""}]
    host = "127.0.0.1" if flavour == "embedded" else "incidents"
    return render("alertmanager/alertmanager.yml.j2", flavour=flavour, receivers=receivers,
                  volctl_url=f"http://{host}:{alerting.receiver_port}/alerts", receiver_secret=secret,
                  smtp={"smarthost": alerting.email_smarthost, "sender": alerting.email_from}
                  if alerting.email_to else None,
                  group_wait=alerting.group_wait, group_interval=alerting.group_interval,
                  repeat_interval=alerting.repeat_interval)


def _parse(path: Path, text: str) -> None:
    try:
        json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"rendered {path.name} does not parse: {exc}", hint="this is a template bug") from exc
