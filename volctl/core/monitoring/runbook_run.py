"""Running a runbook: each step's volctl command in a child process, decisions by exit code, a
confirmation before mutating steps, and an incident record of everything that ran."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from volctl.core.monitoring.rule_records import runbook_command
from volctl.core.monitoring.runbooks import Runbook, Step
from volctl.domain.clock import utc_iso
from volctl.domain.incidents import Incident

MAX_STEPS_RUN = 50  # decisions may loop back (re-check after a fix); a runaway loop stops here
OUTPUT_KEPT = 20_000  # characters of each step's output kept in the incident record


class Hooks(Protocol):
    def step_started(self, step: Step) -> None: ...
    def output(self, line: str) -> None: ...
    def step_finished(self, result: StepResult) -> None: ...
    def confirm(self, step: Step) -> bool: ...


# (the run, the state directory) -> the incident record written; volctl.reports.incident.write_incident
IncidentWriter = Callable[["RunbookRun", Path], Path]


@dataclass
class StepResult:
    number: int
    title: str
    command: str
    exit_code: int | None = None  # None: not run (declined)
    seconds: float = 0.0
    output: str = ""
    decision: str = ""


@dataclass
class RunbookRun:
    runbook: str
    title: str
    started_at: str
    outcome: str = ""  # done (resolved) | stop (escalate / failed) | declined | interrupted
    message: str = ""
    steps: list[StepResult] = field(default_factory=list)
    record: str = ""
    seconds: float = 0.0
    # The alerts it answers: the one named on the command line, else those firing (per the incident
    # timeline) whose runbook this is; "ConsumerDown since 2026-12-07T16:02:11Z: 0 of 1 consume members up".
    alerts: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.outcome == "done"


def answered_alerts(asked: str, runbook: Runbook, incidents: list[Incident]) -> list[str]:
    """What started this run: the alert named on the command line (`volctl runbook run ConsumerDown`)
    and every incident still open whose runbook this is, newest last, with when it began and its value."""
    command = runbook_command(runbook.name)
    open_ones = [i for i in incidents if i.resolved_at is None and (i.runbook == command or i.alertname == asked)]
    found = [_said(i) for i in open_ones]
    if asked != runbook.name and not any(i.alertname == asked for i in open_ones):
        found.insert(0, f"{asked} (named on the command line; not firing as far as the timeline knows)")
    return found


def _said(incident: Incident) -> str:
    since = incident.since_epoch
    when = incident.started_at if since is None else utc_iso(since, timespec="seconds")
    return f"{incident.alertname} since {when}" + (f": {incident.shown}" if incident.shown else "")


def run_runbook(runbook: Runbook, hooks: Hooks, state_dir: Path, record: IncidentWriter,
                config_file: Path | None = None, yes: bool = False, alerts: list[str] | None = None) -> RunbookRun:
    started = time.monotonic()
    run = RunbookRun(runbook.name, runbook.title, utc_iso(), alerts=list(alerts or []))
    step = runbook.steps[0] if runbook.steps else None
    try:
        while step is not None:
            if len(run.steps) >= MAX_STEPS_RUN:
                run.outcome, run.message = "stop", f"more than {MAX_STEPS_RUN} steps ran: the decisions loop"
                break
            hooks.step_started(step)
            result = StepResult(step.number, step.title, step.text)
            run.steps.append(result)
            command = list(step.command)
            if step.mutating:
                if not (yes or hooks.confirm(step)):
                    result.decision = "declined"
                    run.outcome, run.message = "declined", f"step {step.number} was not confirmed: nothing changed"
                    hooks.step_finished(result)
                    break
                command.append("--yes")  # confirmed here; the child has no terminal to ask on
            _execute(command, result, hooks, config_file)
            decision = step.decide(result.exit_code or 0)
            if decision.kind == "step":
                result.decision = f"exit {result.exit_code} -> step {decision.step}"
                step = runbook.step(decision.step or 0)
            elif decision.kind == "next":
                result.decision = f"exit {result.exit_code} -> next step"
                step = _after(runbook, step)
                if step is None:
                    run.outcome, run.message = "done", "every step ran"
            else:
                result.decision = f"exit {result.exit_code} -> {decision.kind}: {decision.text}"
                run.outcome, run.message = decision.kind, decision.text
                step = None
            hooks.step_finished(result)
    except KeyboardInterrupt:
        run.outcome, run.message = "interrupted", "interrupted by the operator"
    run.seconds = time.monotonic() - started
    run.record = str(record(run, state_dir))
    return run


def _execute(command: list[str], result: StepResult, hooks: Hooks, config_file: Path | None) -> None:
    argv = [sys.executable, "-m", "volctl", *(["--config", str(config_file)] if config_file else []), *command]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": os.environ.get("COLUMNS", "120")}
    started = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, env=env) as child:
        assert child.stdout is not None
        for line in child.stdout:
            hooks.output(line.rstrip("\n"))
            lines.append(line)
        result.exit_code = child.wait()
    result.seconds = time.monotonic() - started
    output = "".join(lines)
    result.output = output if len(output) <= OUTPUT_KEPT else output[:OUTPUT_KEPT] + "\n[... cut]\n"


def _after(runbook: Runbook, step: Step) -> Step | None:
    index = runbook.steps.index(step)
    return runbook.steps[index + 1] if index + 1 < len(runbook.steps) else None
