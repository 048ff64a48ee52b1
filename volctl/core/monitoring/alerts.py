"""`volctl alerts`: what fires and what is about to (Prometheus's pending alerts), what is silenced,
and the incident timeline volctl's receiver keeps; silencing and unsilencing, audited.

Alertmanager is the source of what fires (it is what reaches people); Prometheus adds the pending
alerts and each alert's current value. Exit: 0 none firing, 1 one fires (silenced and inhibited
alerts do not count: someone has taken them), 3 Alertmanager cannot be reached.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volctl.clients.alertmanager import AlertmanagerClient
from volctl.clients.prometheus import PrometheusClient
from volctl.core.monitoring.rule_records import Alert, runbook_command
from volctl.domain.clock import epoch_of_rfc3339, seconds_of, utc_iso
from volctl.domain.errors import ConfigError, VolctlError, disk_full
from volctl.domain.files import no_room
from volctl.domain.incidents import Incident, incidents_of, read_timeline
from volctl.domain.text import printable, visible
from volctl.domain.verdict import Verdict

ACTIONS_FILE = "actions.jsonl"  # silences and unsilences, beside the receiver's timeline
STATE_ORDER = ("firing", "pending", "silenced", "inhibited")


@dataclass
class ActiveAlert:
    name: str
    state: str  # firing | pending | silenced | inhibited
    severity: str
    since: str  # UTC ISO-8601: when it started firing (pending: when its condition first held)
    summary: str
    value: float | None  # as Prometheus evaluates it now; None: unknown
    runbook: str  # the command that answers it
    labels: dict[str, str] = field(default_factory=dict)
    shown: str = ""  # the value with its unit, as the rule's annotation renders it ("0 of 1 consume members up")


@dataclass
class SilenceView:
    id: str
    matchers: str
    state: str  # active | pending
    ends_at: str
    created_by: str
    comment: str


@dataclass
class AlertsReport:
    alertmanager: str
    reached: bool = True
    problem: str = ""
    evaluated: bool = True  # Prometheus answered: it evaluates the rules, so without it nothing new can fire
    notes: list[str] = field(default_factory=list)
    alerts: list[ActiveAlert] = field(default_factory=list)
    silences: list[SilenceView] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)  # silences and unsilences, newest last

    @property
    def firing(self) -> list[ActiveAlert]:
        return [a for a in self.alerts if a.state == "firing"]

    @property
    def outcome(self) -> Verdict:
        if not self.reached:
            return Verdict.ERROR
        if self.firing:
            return Verdict.FAIL
        return Verdict.PASS if self.evaluated else Verdict.ERROR  # "none fires" is not known without it

    def as_document(self) -> dict[str, Any]:
        return {"verdict": self.outcome.value, "alertmanager": self.alertmanager, "reached": self.reached,
                "evaluated": self.evaluated,
                "problem": self.problem, "notes": self.notes, "firing": len(self.firing),
                "alerts": [asdict(a) for a in self.alerts], "silences": [asdict(s) for s in self.silences],
                "incidents": [_incident(i) for i in self.incidents], "actions": self.actions}


def _incident(incident: Incident) -> dict[str, Any]:
    since = incident.since_epoch
    return {**asdict(incident), "since": None if since is None else utc_iso(since, timespec="seconds"),
            "lasted_s": incident.lasted_s}


def alerts_report(alertmanager: AlertmanagerClient, prometheus: PrometheusClient, catalogue: tuple[Alert, ...],
                  incidents_dir: Path, recent: int = 10) -> AlertsReport:
    report = AlertsReport(alertmanager.url)
    runbooks = {a.name: runbook_command(a.runbook) for a in catalogue}
    try:
        held, silences = alertmanager.alerts(), alertmanager.silences()
    except VolctlError as exc:
        report.reached, report.problem = False, exc.message
        held, silences = [], []
    try:
        evaluated = prometheus.alerts()
    except VolctlError as exc:
        report.notes.append(f"pending alerts and values unknown: {exc.message}")
        report.evaluated = False
        report.problem = report.problem or f"Prometheus, which evaluates the rules, did not answer: {exc.message}"
        evaluated = []
    values = {_key(a.get("labels")): _number(a.get("value")) for a in evaluated}
    seen = set()
    for alert in held:
        labels = _labels(alert.get("labels"))
        seen.add(_key(labels))
        report.alerts.append(_active(labels, alert.get("annotations"), _held_state(alert),
                                     str(alert.get("startsAt", "")), values.get(_key(labels)), runbooks))
    for alert in evaluated:  # pending, and firing ones Alertmanager has not been sent yet
        labels = _labels(alert.get("labels"))
        if _key(labels) not in seen and alert.get("state") in ("pending", "firing"):
            report.alerts.append(_active(labels, alert.get("annotations"), str(alert["state"]),
                                         str(alert.get("activeAt", "")), _number(alert.get("value")), runbooks))
    report.alerts.sort(key=lambda a: (STATE_ORDER.index(a.state), a.severity != "page", a.since, a.name))
    report.silences = [_silence(s) for s in silences if (s.get("status") or {}).get("state") in ("active", "pending")]
    report.incidents = timeline_incidents(incidents_dir, catalogue)[-recent:]
    report.actions = read_actions(incidents_dir)[-recent:]
    return report


def timeline_incidents(incidents_dir: Path, catalogue: tuple[Alert, ...]) -> list[Incident]:
    """The receiver's incidents, oldest first, each knowing its rule's `for` (its pending time)."""
    pending = {a.name: seconds_of(a.for_) for a in catalogue}
    runbooks = {a.name: runbook_command(a.runbook) for a in catalogue}
    incidents = incidents_of(read_timeline(incidents_dir))
    for incident in incidents:
        incident.pending_s = pending.get(incident.alertname, 0.0)
        incident.runbook = runbooks.get(incident.alertname, "")  # volctl's command, never the sender's
    return incidents


def watch_alerts(make_report: Any, interval_s: float) -> Iterator[AlertsReport]:
    """A report every `interval_s` until the caller stops iterating (Ctrl-C)."""
    while True:
        yield make_report()
        time.sleep(interval_s)


@dataclass
class SilenceResult:
    silence_id: str
    alertname: str
    ends_at: str
    silenced_now: int  # alerts of that name held by Alertmanager now


def silence(alertmanager: AlertmanagerClient, catalogue: tuple[Alert, ...], token: str, name: str, seconds: float,
            reason: str, actor: str, incidents_dir: Path, longest: str = "7d", force: bool = False) -> SilenceResult:
    """Silence every alert named `name` for `seconds`; audited in the incident folder. Longer than
    `longest` only with `force` (recorded)."""
    _need_token(token)
    forced = seconds > seconds_of(longest)
    if forced and not force:
        raise ConfigError(f"a silence of {seconds / 86400:,.1f} days is longer than alertmanager.max_silence "
                          f"({longest})", hint="silence for less, or pass --force to mean it (the audit records it)")
    known = {a.name for a in catalogue}
    if name not in known:
        raise ConfigError(f"no alert is named {name!r}",
                          hint=f"alert names: {', '.join(sorted(known))} (`volctl alerts` shows what fires)")
    if not reason.strip():
        raise ConfigError("a silence needs a reason", hint="pass --reason 'what is being done about it'")
    _need_room(incidents_dir)  # a silence nobody can audit is not made
    now = time.time()
    ends = utc_iso(now + seconds, timespec="seconds")
    silence_id = alertmanager.create_silence({"alertname": name}, utc_iso(now, timespec="seconds"), ends, actor,
                                             printable(reason, 300))
    held = sum(1 for a in alertmanager.alerts() if (a.get("labels") or {}).get("alertname") == name)
    try:
        _audit(incidents_dir, {"action": "silence", "alertname": name, "silence_id": silence_id, "until": ends,
                               "actor": actor, "reason": printable(reason, 300), "forced": forced})
    except OSError as exc:  # the disk filled meanwhile: the silence goes again, nothing stays unaudited
        with contextlib.suppress(VolctlError):
            alertmanager.expire_silence(silence_id)
        raise disk_full(exc, incidents_dir) or exc from None
    return SilenceResult(silence_id, name, ends, held)


def unsilence(alertmanager: AlertmanagerClient, token: str, silence_id: str, actor: str, incidents_dir: Path) -> str:
    """Expire a silence now; the alert name it matched (audited)."""
    _need_token(token)
    matched = next((_matchers(s) for s in alertmanager.silences() if s.get("id") == silence_id), None)
    if matched is None:
        raise ConfigError(f"Alertmanager has no silence {silence_id}", hint="`volctl alerts` lists the silences")
    _need_room(incidents_dir)  # lifted only when the audit can say so
    alertmanager.expire_silence(silence_id)
    _audit(incidents_dir, {"action": "unsilence", "silence_id": silence_id, "matchers": matched, "actor": actor})
    return matched


def read_actions(incidents_dir: Path) -> list[dict[str, Any]]:
    try:
        lines = (incidents_dir / ACTIONS_FILE).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def _need_token(token: str) -> None:
    if not token:
        raise ConfigError("silencing is an admin action and no admin token is readable here",
                          hint="run it where `volctl up` wrote <state_dir>/admin_token, or set VOLCTL_ADMIN_TOKEN")


def _need_room(incidents_dir: Path) -> None:
    full = no_room(incidents_dir, "an audited change")
    if full is not None:
        raise disk_full(full) or full


def _audit(incidents_dir: Path, entry: dict[str, Any]) -> None:
    incidents_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": utc_iso(timespec="seconds"), **entry}, sort_keys=True, ensure_ascii=True) + "\n"
    with (incidents_dir / ACTIONS_FILE).open("a", encoding="utf-8") as handle:  # one write: lines never interleave
        handle.write(line)


def _active(labels: dict[str, str], annotations: Any, state: str, since: str, value: float | None,
            runbooks: dict[str, str]) -> ActiveAlert:
    notes = _labels(annotations)
    name = labels.get("alertname", "unnamed")
    # The command to run comes from volctl's own catalogue, never from the alert: anyone can post one
    # (a forged alert suggested "volctl down --yes; rm -rf /").
    return ActiveAlert(name, state, labels.get("severity", "none"), _utc(since), notes.get("summary", ""), value,
                       runbooks.get(name, ""),
                       {k: v for k, v in labels.items() if k not in ("alertname", "severity")}, notes.get("value", ""))


def _held_state(alert: dict[str, Any]) -> str:
    status = alert.get("status") or {}
    if status.get("silencedBy"):
        return "silenced"
    if status.get("inhibitedBy"):
        return "inhibited"
    return "firing"


def _silence(document: dict[str, Any]) -> SilenceView:
    return SilenceView(str(document.get("id")), _matchers(document), str((document.get("status") or {}).get("state")),
                       _utc(str(document.get("endsAt", ""))), visible(str(document.get("createdBy", ""))[:100]),
                       visible(str(document.get("comment", ""))[:300]))


def _matchers(document: dict[str, Any]) -> str:
    return ", ".join(f"{m.get('name')}{'=' if m.get('isEqual', True) else '!='}{m.get('value')}"
                     for m in document.get("matchers") or [])


def _utc(stamp: str) -> str:
    """Alertmanager's and Prometheus's RFC 3339 stamps (nanoseconds, any offset) as whole UTC seconds."""
    epoch = epoch_of_rfc3339(stamp)
    return visible(stamp[:40]) if epoch is None else utc_iso(epoch, timespec="seconds")


def _labels(value: Any) -> dict[str, str]:
    """Labels or annotations from Alertmanager or Prometheus, made visible: anyone can post an alert."""
    return {visible(str(k)[:100]): visible(str(v)[:300]) for k, v in value.items()} if isinstance(value, dict) else {}


def _key(labels: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(_labels(labels).items()))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None
