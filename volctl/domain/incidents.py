"""The incident timeline: every notification Alertmanager sends volctl's receiver, firing and
resolved, one JSON line each in `<state_dir>/incidents/`, and incidents rebuilt from it.

The receiver (services/incidents) writes; `volctl alerts` reads. An entry keeps what the on-call
engineer needs at 3 a.m.: the alert, its labels, the value Prometheus saw, its summary and the
command that answers it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volctl.domain.clock import epoch_of_rfc3339
from volctl.domain.feature_log import JsonLinesLog, read_documents
from volctl.domain.settings import Settings
from volctl.domain.text import visible

TIMELINE_PREFIX = "timeline"
MAX_NOTIFICATION_BYTES = 1_000_000  # Alertmanager truncates to max_alerts; a bigger body is not from it
_ROUTING = ("alertname", "severity", "objective")  # never dropped by the bound on label count
_TEXT_LIMIT = 500  # label and annotation values come from rule templates and series: bounded


class BadNotification(ValueError):
    """A body that is not an Alertmanager webhook notification; `reason` is its counter label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def receiver_secret(admin_token: str) -> str:
    """What Alertmanager sends the receiver as its bearer token: derived from the admin token (the
    rendered Alertmanager config holds this, never the admin token); "" without an admin token."""
    if not admin_token:
        return ""
    return hmac.new(admin_token.encode(), b"volctl incident receiver", hashlib.sha256).hexdigest()


ALERTMANAGER_USER = "volctl"  # the one user of the embedded Alertmanager's API (basic auth)


def alertmanager_password(admin_token: str) -> str:
    """The embedded Alertmanager's API password: derived from the admin token, like the receiver's
    secret (its web config holds a bcrypt hash of it, Prometheus's config the password); "" without one."""
    if not admin_token:
        return ""
    return hmac.new(admin_token.encode(), b"volctl alertmanager api", hashlib.sha256).hexdigest()


def alertmanager_auth(settings: Settings) -> tuple[str, str] | None:
    """What volctl sends the embedded Alertmanager: every call to its API, reads and silences alike,
    is authorised there, not only checked by the CLI (None: an external Alertmanager, or no token)."""
    from volctl.domain.model_admin import read_admin_token

    password = alertmanager_password(read_admin_token(settings)) if settings.alertmanager.embedded else ""
    return (ALERTMANAGER_USER, password) if password else None


def incidents_folder(settings: Settings) -> Path:
    return settings.state_path / "incidents"


def timeline_log(folder: Path) -> JsonLinesLog:
    # Each start of the receiver opens a new file: keep many small ones (a restart must not drop history).
    return JsonLinesLog(folder, TIMELINE_PREFIX, rows_per_file=10_000, keep_files=50, bytes_per_file=2_000_000)


def entries_of(notification: Any, received_at: float) -> list[dict[str, Any]]:
    """One timeline entry per alert of an Alertmanager webhook notification (version 4).
    BadNotification when the body is not one."""
    if not isinstance(notification, dict):
        raise BadNotification("not_an_object", "the body is not a JSON object")
    alerts = notification.get("alerts")
    if notification.get("version") != "4" or not isinstance(alerts, list):
        raise BadNotification("not_alertmanager", "not an Alertmanager webhook notification (version 4, alerts)")
    entries = []
    for alert in alerts:
        if not isinstance(alert, dict) or alert.get("status") not in ("firing", "resolved"):
            raise BadNotification("bad_alert", "an alert without status firing or resolved")
        labels = _strings(alert.get("labels"))
        annotations = _strings(alert.get("annotations"))
        entries.append({
            "received_at": received_at, "status": alert["status"], "alertname": labels.get("alertname", "unnamed"),
            "severity": labels.get("severity", "none"), "labels": labels, "summary": annotations.get("summary", ""),
            "runbook": annotations.get("runbook", ""), "starts_at": visible(str(alert.get("startsAt", ""))[:64]),
            "ends_at": visible(str(alert.get("endsAt", ""))[:64]),
            "fingerprint": visible(str(alert.get("fingerprint", ""))[:64]), "value": None,
            "shown": annotations.get("value", ""),
            "receiver": visible(str(notification.get("receiver", ""))[:64])})
    return entries


def read_timeline(folder: Path, limit: int = 200) -> list[dict[str, Any]]:
    """The newest `limit` entries, oldest first (lines that are not entries are skipped)."""
    entries = [d for d in read_documents(folder, TIMELINE_PREFIX) if isinstance(d, dict) and "status" in d]
    return entries[-limit:]


@dataclass
class Incident:
    alertname: str
    severity: str
    fingerprint: str
    summary: str
    runbook: str
    started_at: str
    value: float | None
    resolved_at: str | None = None  # None: still firing as far as the receiver knows
    labels: dict[str, str] = field(default_factory=dict)
    notified_at: float = 0.0  # when the firing notification reached the receiver
    resolved_notified_at: float | None = None
    shown: str = ""  # the value with its unit when it fired, as the rule's annotation rendered it
    active_at: str | None = None  # when its condition first held, as Prometheus said when it fired
    # The rule's `for`: Prometheus stamps the firing (startsAt) one `for` after the condition first
    # held, to within one evaluation; it stands in when Prometheus did not say.
    pending_s: float = 0.0

    @property
    def since_epoch(self) -> float | None:
        """When the condition first held (pending): the outage starts there, not when it fired."""
        active = epoch_of_rfc3339(self.active_at or "")
        if active is not None:
            return active
        fired = epoch_of_rfc3339(self.started_at)
        return None if fired is None else fired - self.pending_s

    @property
    def lasted_s(self) -> float | None:
        """From the first pending evaluation to the resolution; None while firing."""
        if self.resolved_at is None:
            return None
        start, end = self.since_epoch, epoch_of_rfc3339(self.resolved_at)
        return None if start is None or end is None else end - start


def incidents_of(entries: list[dict[str, Any]]) -> list[Incident]:
    """Firing and resolved entries paired by fingerprint and start time: one incident each, oldest
    first. A repeated firing notification (repeat_interval) is the same incident."""
    found: dict[tuple[str, str], Incident] = {}
    for entry in entries:
        key = (str(entry.get("fingerprint")), str(entry.get("starts_at")))
        incident = found.get(key)
        if incident is None:
            labels = entry.get("labels")
            incident = found[key] = Incident(
                str(entry.get("alertname")), str(entry.get("severity")), key[0], str(entry.get("summary", "")),
                str(entry.get("runbook", "")), key[1], _number(entry.get("value")),
                labels=labels if isinstance(labels, dict) else {}, notified_at=float(entry.get("received_at") or 0.0),
                shown=str(entry.get("shown") or ""), active_at=_text(entry.get("active_at")))
        if incident.value is None:
            incident.value = _number(entry.get("value"))
        incident.active_at = incident.active_at or _text(entry.get("active_at"))
        if entry.get("status") == "resolved":
            incident.resolved_at = str(entry.get("ends_at"))
            incident.resolved_notified_at = float(entry.get("received_at") or 0.0)
    return list(found.values())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> dict[str, str]:
    """Labels or annotations, bounded and made visible (an ESC or a newline from a sender is shown as
    its escape, never run by a terminal); the routing ones kept whatever the count."""
    if not isinstance(value, dict):
        return {}
    items = list(value.items())
    kept = [(k, v) for k, v in items if k in _ROUTING] + [(k, v) for k, v in items if k not in _ROUTING][:50]
    return {visible(str(k)[:100]): visible(str(v)[:_TEXT_LIMIT]) for k, v in kept}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
