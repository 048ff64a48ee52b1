"""Render the monitoring files (Prometheus config and rules, Grafana provisioning and dashboard)
from `templates/` for the embedded stack or for compose.yaml: one set of templates, two targets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from volctl.core import queries
from volctl.domain.errors import ConfigError
from volctl.domain.settings import Settings
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

    def all(self) -> list[Path]:
        return [self.prometheus_config, self.rules, self.dashboard, self.datasource, self.dashboard_provider]


def render_monitoring(settings: Settings, flavour: str, out_dir: Path) -> RenderedFiles:
    if flavour not in FLAVOURS:
        raise ConfigError(f"unknown flavour {flavour!r}", hint=f"one of {', '.join(FLAVOURS)}")
    files = RenderedFiles(
        out_dir / "prometheus" / "prometheus.yml", out_dir / "prometheus" / "rules.yml",
        out_dir / "grafana" / "dashboards" / "volctl.json",
        out_dir / "grafana" / "provisioning" / "datasources" / "volctl.yml",
        out_dir / "grafana" / "provisioning" / "dashboards" / "volctl.yml",
    )
    embedded = flavour == "embedded"
    jobs = ([{"name": service, "file": str(scrape_targets_path(settings, service).resolve())}
             for service in (PREDICT, CONSUME)] if embedded
            else [{"name": PREDICT, "file": None, "dns_name": "predict", "port": 8000},
                  {"name": CONSUME, "file": None, "dns_name": "consume", "port": 8001}])
    texts = {
        files.prometheus_config: render(
            "prometheus/prometheus.yml.j2", flavour=flavour, scrape_interval=settings.prometheus.scrape_interval,
            rules_file=str(files.rules.resolve()) if embedded else COMPOSE_RULES, jobs=jobs),
        files.rules: render("prometheus/rules.yml.j2", recordings=queries.recordings(settings.slo),
                            alerts=queries.alerts(settings.slo)),
        files.dashboard: render("grafana/dashboard.json.j2", panels=queries.dashboard_panels(settings.slo)),
        files.datasource: render("grafana/datasource.yml.j2",
                                 prometheus_url=settings.prometheus.url if embedded else "http://prometheus:9090"),
        files.dashboard_provider: render("grafana/dashboards.yml.j2", dashboards_path=(
            str(files.dashboard.parent.resolve()) if embedded else COMPOSE_DASHBOARDS)),
    }
    for path, text in texts.items():
        _parse(path, text)  # a template bug fails here, not inside Prometheus or Grafana
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


def _parse(path: Path, text: str) -> None:
    try:
        json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"rendered {path.name} does not parse: {exc}", hint="this is a template bug") from exc
