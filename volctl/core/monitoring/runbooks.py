"""Executable runbooks: markdown whose steps are volctl commands and whose decisions follow exit codes.

A runbook is a markdown file in `runbooks/`:

    # Title
    When to use: ...                          (any prose)
    ## 1. Step title
    ```volctl
    volctl slo check --window 5m
    ```
    Expected: ...                             (prose)
    - exit 0 -> done: healthy, nothing to do
    - exit 1 -> step 4
    - exit 3 -> stop: Prometheus is down; run the `startup` runbook

Decisions: `step N`, `next`, `done: text` (the runbook ends, resolved) or `stop: text` (ends,
escalate). Without a matching decision, exit 0 goes to the next step and anything else stops.
`->` and `→` both work; several codes may share a line (`exit 1, 3 -> step 5`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from volctl.domain.errors import ConfigError

# Steps that change state, asked before unless --yes (a runbook step never passes --yes itself):
# a runbook titled "Routine health check" silenced ConsumerDown for 100y without asking (issue 41).
MUTATING = frozenset({("rollback",), ("down",), ("scale",), ("ingest",), ("guard",), ("render",),
                      ("alerts", "silence"), ("alerts", "unsilence"), ("shadow", "add"), ("shadow", "remove"),
                      ("model", "train"), ("model", "retrain"), ("drift", "calibrate")})
READ_ONLY_FLAGS = frozenset({"--dry-run", "--history"})
_STEP = re.compile(r"^##\s+(\d+)\.\s+(.+?)\s*$")
_FENCE = re.compile(r"^```volctl\s*$")
_DECISION = re.compile(r"^[-*]\s+exit\s+([\d,\s]+?)\s*(?:->|→)\s*(.+?)\s*$", re.IGNORECASE)
_ACTION = re.compile(r"^(?:step\s+(\d+)|(next)|(done|stop):\s*(.+))$", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    kind: str  # step | next | done | stop
    step: int | None = None
    text: str = ""


@dataclass
class Step:
    number: int
    title: str
    command: list[str] = field(default_factory=list)  # argv after "volctl"
    text: str = ""  # the command as written
    decisions: dict[int, Decision] = field(default_factory=dict)
    line: int = 0

    @property
    def mutating(self) -> bool:
        words = tuple(self.command[:2])
        return bool(words) and (words[:1] in MUTATING or words in MUTATING) and not READ_ONLY_FLAGS & set(self.command)

    def decide(self, code: int) -> Decision:
        if code in self.decisions:
            return self.decisions[code]
        return Decision("next") if code == 0 else Decision("stop", text=f"step {self.number} failed (exit {code})")


@dataclass
class Runbook:
    name: str
    path: Path
    title: str
    summary: str
    steps: list[Step]
    text: str
    problems: list[str] = field(default_factory=list)  # syntax found while parsing

    def step(self, number: int) -> Step | None:
        return next((s for s in self.steps if s.number == number), None)

    def as_document(self, problems: list[str] | None = None) -> dict[str, object]:
        """The runbook for scripts: its steps with their commands and decisions (and, from a check,
        what is broken)."""
        found = {"name": self.name, "title": self.title, "when": self.summary, "path": str(self.path),
                 "steps": [{"number": s.number, "title": s.title, "command": ["volctl", *s.command],
                            "changes_state": s.mutating,
                            "decisions": {str(code): {"kind": d.kind, "step": d.step, "text": d.text}
                                          for code, d in sorted(s.decisions.items())}} for s in self.steps]}
        if problems is not None:
            found |= {"ok": not problems, "problems": problems}
        return found


def runbooks_dir() -> Path:
    """`runbooks/` beside the package in a checkout; inside the package in an installed wheel."""
    import volctl

    packaged = Path(volctl.__file__).parent / "runbooks"
    return packaged if packaged.is_dir() else Path(volctl.__file__).resolve().parents[1] / "runbooks"


def list_runbooks(folder: Path | None = None) -> list[Runbook]:
    return [parse_runbook(path) for path in sorted((folder or runbooks_dir()).glob("*.md"))]


def find_runbook(name_or_path: str, folder: Path | None = None, by_alert: dict[str, str] | None = None) -> Runbook:
    """A runbook by name, by .md path, or by the name of an alert it answers (`by_alert`: alert
    name -> runbook name, from the alert catalogue)."""
    path = Path(name_or_path)
    if path.suffix == ".md" and path.is_file():
        return parse_runbook(path)
    folder = folder or runbooks_dir()
    candidate = folder / f"{name_or_path}.md"
    if not candidate.is_file() and by_alert and name_or_path in by_alert:
        candidate = folder / f"{by_alert[name_or_path]}.md"
    if not candidate.is_file():
        known = ", ".join(p.stem for p in sorted(folder.glob("*.md"))) or "none"
        raise ConfigError(f"no runbook named {name_or_path!r} in {folder}", hint=f"known: {known}")
    return parse_runbook(candidate)


def parse_runbook(path: Path) -> Runbook:
    text = path.read_text()
    lines = text.splitlines()
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), path.stem)
    summary = next((line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("when to use:")), "")
    steps: list[Step] = []
    problems: list[str] = []
    in_fence = False
    for number, line in enumerate(lines, start=1):
        if in_fence:
            if line.startswith("```"):
                in_fence = False
            elif line.strip() and steps:
                _set_command(steps[-1], line.strip(), number, problems)
            continue
        if _FENCE.match(line):
            in_fence = True
            if not steps:
                problems.append(f"line {number}: a command before the first `## N. step` heading")
        elif match := _STEP.match(line):
            steps.append(Step(int(match.group(1)), match.group(2), line=number))
        elif (match := _DECISION.match(line)) and steps:
            _add_decision(steps[-1], match.group(1), match.group(2), number, problems)
    return Runbook(path.stem, path, title, summary, steps, text, problems)


def _set_command(step: Step, line: str, number: int, problems: list[str]) -> None:
    if step.command:
        problems.append(f"line {number}: step {step.number} has more than one command")
        return
    try:
        words = shlex.split(line)
    except ValueError as exc:
        problems.append(f"line {number}: cannot parse {line!r}: {exc}")
        return
    if not words or words[0] != "volctl":
        problems.append(f"line {number}: step {step.number} runs {line!r}; steps run volctl commands only")
        return
    step.command, step.text = words[1:], line


def _add_decision(step: Step, codes: str, action: str, number: int, problems: list[str]) -> None:
    match = _ACTION.match(action)
    if not match:
        problems.append(f"line {number}: {action!r} is not `step N`, `next`, `done: ...` or `stop: ...`")
        return
    if match.group(1):
        decision = Decision("step", int(match.group(1)))
    elif match.group(2):
        decision = Decision("next")
    else:
        decision = Decision(match.group(3).lower(), text=match.group(4))
    for code in re.split(r"[,\s]+", codes.strip()):
        step.decisions[int(code)] = decision


def check_runbook(runbook: Runbook, command_exists: Callable[[list[str]], str | None]) -> list[str]:
    """Problems that would stop the runbook from running: syntax, unknown commands or options
    (`command_exists` returns why an argv is not a valid volctl command), broken step references."""
    problems = list(runbook.problems)
    if not runbook.steps:
        problems.append("no steps (`## 1. Title` followed by a ```volctl fenced command)")
    numbers = [s.number for s in runbook.steps]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"steps are numbered {numbers}; number them 1, 2, 3, ...")
    for step in runbook.steps:
        if not step.command:
            problems.append(f"step {step.number} ({step.title}) has no ```volctl command")
            continue
        why = command_exists(step.command)
        if why:
            problems.append(f"step {step.number}: `{step.text}`: {why}")
        for code, decision in sorted(step.decisions.items()):
            if decision.kind == "step" and runbook.step(decision.step or 0) is None:
                problems.append(f"step {step.number}: exit {code} goes to step {decision.step}, which does not exist")
            if decision.kind == "step" and decision.step == step.number:
                problems.append(f"step {step.number}: exit {code} loops to itself")
    return problems
