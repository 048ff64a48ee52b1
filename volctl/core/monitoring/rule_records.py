"""The records Prometheus's rules and the dashboard are written from: a series, a panel, a
recording rule, an alert (with its severity, objective and runbook)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from volctl.domain.clock import seconds_of


@dataclass(frozen=True)
class Series:
    legend: str
    expr: str


@dataclass(frozen=True)
class Panel:
    title: str
    series: tuple[Series, ...]
    unit: str  # Grafana unit id
    threshold: float | None = None  # the SLO line, drawn red
    kind: str = "timeseries"


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str  # the measured value; the rule fires when `expr op threshold` holds for `for_`
    op: str
    threshold: float
    for_: str
    summary: str
    severity: str = "page"
    multiwindow: str = ""  # the whole condition when `expr op threshold` is not all (burn rates: both windows)
    runbook: str = "health-check"  # runbooks/<name>.md: what the on-call engineer runs when it fires
    objective: str = ""  # alerts about one objective (a page and its ticket): Alertmanager's inhibition
    # The value with its unit, as Prometheus renders it when the alert fires (a Go template):
    # "0 of 1 consume members up", not "0".
    shown: str = "{{ $value | humanize }}"

    @property
    def condition(self) -> str:
        return self.multiwindow or f"({self.expr}) {self.op} {self.threshold:g}"

    @property
    def labels(self) -> dict[str, str]:
        """What the rule adds to its series' labels: routing (severity), inhibition (objective)."""
        return {"severity": self.severity, "objective": self.objective or self.name}

    @property
    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "runbook": runbook_command(self.runbook), "value": self.shown}


def held(alerts: tuple[Alert, ...], scale: float) -> tuple[Alert, ...]:
    """The alerts with every `for:` times `scale` (whole seconds; a fire drill's shorter holds)."""
    if scale == 1:
        return alerts
    return tuple(dataclasses.replace(a, for_=f"{round(seconds_of(a.for_) * scale)}s") for a in alerts)


def runbook_command(runbook: str) -> str:
    return f"volctl runbook run {runbook}"
