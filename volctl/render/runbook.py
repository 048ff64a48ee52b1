"""Runbook list, rendered markdown, live step output and the run summary."""

from __future__ import annotations

from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from volctl.core.monitoring.runbook_run import RunbookRun, StepResult
from volctl.core.monitoring.runbooks import Runbook, Step
from volctl.render.console import err, fit, out


def runbook_list(runbooks: list[Runbook], alerts: dict[str, list[str]]) -> None:
    """`alerts`: runbook name -> the alerts whose notification names it (one a line: names whole)."""
    table = Table(title="runbooks", title_justify="left")
    table.add_column("name")
    table.add_column("title", overflow="fold")
    table.add_column("alerts", overflow="fold")
    table.add_column("steps", justify="right")
    table.add_column("when to use", overflow="fold")
    for runbook in runbooks:
        table.add_row(runbook.name, runbook.title, "\n".join(alerts.get(runbook.name, [])) or "-",
                      str(len(runbook.steps)), escape(runbook.summary))
    out.print(fit(table, out, optional={"title": 140, "when to use": 120}))


def runbook_markdown(runbook: Runbook) -> None:
    out.print(Markdown(runbook.text))


class LiveSteps:
    """Hooks for run_runbook that print as the steps run (confirmation asks on the terminal)."""

    def __init__(self, ask: bool) -> None:
        self.ask = ask

    def step_started(self, step: Step) -> None:
        out.rule(f"step {step.number}. {escape(step.title)}", align="left")
        out.print(f"[bold]$ {escape(step.text)}[/]")

    def output(self, line: str) -> None:
        out.print(escape(line), soft_wrap=True)

    def step_finished(self, result: StepResult) -> None:
        code = "not run" if result.exit_code is None else f"exit {result.exit_code}"
        colour = "green" if result.exit_code == 0 else "yellow"
        out.print(f"[{colour}]{code}[/] ({result.seconds:.1f} s)  [dim]{escape(result.decision)}[/]")

    def confirm(self, step: Step) -> bool:
        import sys

        from rich.prompt import Confirm

        if not self.ask or not sys.stdin.isatty():
            return False
        return Confirm.ask(f"step {step.number} changes the system: `{escape(step.text)}`. Run it?",
                           console=err, default=False)


class QuietSteps(LiveSteps):
    def step_started(self, step: Step) -> None:
        pass

    def output(self, line: str) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass


def run_summary(run: RunbookRun) -> None:
    for alert in run.alerts or ["no alert (run by hand; none of its alerts was firing)"]:
        out.print(f"answers: {escape(alert)}", soft_wrap=True)
    table = Table(title=f"runbook {run.runbook}: what ran", title_justify="left")
    for column in ("step", "command", "exit", "time", "decision"):
        table.add_column(column, justify="right" if column in ("exit", "time") else "left",
                         overflow="fold" if column in ("command", "decision") else "ellipsis")
    for step in run.steps:
        table.add_row(f"{step.number}. {escape(step.title)}", escape(step.command),
                      "-" if step.exit_code is None else str(step.exit_code), f"{step.seconds:.1f} s",
                      escape(step.decision))
    out.print(fit(table, out))
    colour = "green" if run.resolved else "red"
    out.print(f"[bold {colour}]{run.outcome}[/]: {escape(run.message)}")
    out.print(f"incident record: {run.record}")


def check_results(results: list[tuple[Runbook, list[str]]]) -> None:
    for runbook, problems in results:
        if problems:
            out.print(f"[red]FAIL[/] {runbook.name} ({runbook.path})")
            for problem in problems:
                out.print(f"  - {escape(problem)}")
        else:
            out.print(f"[green]ok[/]   {runbook.name}: {len(runbook.steps)} steps")
        for step in (s for s in runbook.steps if s.mutating):  # asked before it runs: a reviewer reads them here
            out.print(f"       changes state: step {step.number}: volctl {escape(' '.join(step.command))}",
                      soft_wrap=True)
