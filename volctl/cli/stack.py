"""`volctl up|down|status|logs|render`: the local stack's lifecycle."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from volctl.cli.options import JsonOption, config_file_of, settings_of
from volctl.domain.errors import EXIT_CHECK_FAILED
from volctl.render import console

COMPONENTS = ("broker", "incidents", "alertmanager", "predict", "consume", "prometheus", "replay", "guard")
# = core.operations.stack_processes.ORDER (a test keeps them equal), without importing the core for `--help`


def up(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Also replay real recordings in a loop "
                                       "(the synthetic source when there are none).", metavar="")] = False,
    replay: Annotated[Path | None, typer.Option("--replay", help="Also replay this recording in a loop.",
            metavar="PATH")] = None,
    guard: Annotated[bool, typer.Option("--guard", help="Also run `volctl guard` in the background (rolls back "
                                        "to the better variant on evidence).", metavar="")] = False,
    consumers: Annotated[int | None, typer.Option(
        "--consumers", min=1, max=64, help="Consume members in the one consumer group (default: as many as run, "
        "else consume.replicas); member n serves metrics on consume.port + n - 1.")] = None,
    predict_workers: Annotated[int | None, typer.Option(
        "--predict-workers", min=1, max=64, help="Predict processes sharing predict.port (default: as many as "
        "run, else predict.workers); worker n also listens alone on predict.worker_port + n - 1.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start broker, Prometheus, predict and consume services (and a replay, and the guard), waiting for each.

    Run it again to restore what died (a killed member comes back; the counts stay)."""
    from volctl.core.operations.stack import up as start_stack
    from volctl.render.stack import up_summary
    from volctl.reports.monitoring import render_monitoring

    if demo and replay:
        raise typer.BadParameter("--demo and --replay are alternatives")
    settings = settings_of(ctx)
    with console.steps("starting") as status:
        report = start_stack(settings, config_file_of(ctx), render_monitoring,
                             "demo" if demo else (str(replay) if replay else None),
                             progress=status.update, on_wait=console.note, guard=guard, consumers=consumers,
                             predict_workers=predict_workers)
    if as_json:
        console.emit_json(report)
    else:
        up_summary(report)
    if not report.aligned_ok:  # running, but not on one model: `volctl health` fails the same way
        raise typer.Exit(EXIT_CHECK_FAILED)


def scale(
    ctx: typer.Context,
    what: Annotated[str, typer.Argument(help="What to scale: consumers.", metavar="consumers")],
    count: Annotated[int, typer.Argument(min=1, max=64, help="How many consume members should run.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print which members would start or stop; change "
                                          "nothing.", metavar="")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (it never asks: for runbooks and scripts).",
                                      metavar="")] = False,
    as_json: JsonOption = False,
) -> None:
    """Start or stop consume members of the running stack; the consumer group rebalances and
    Prometheus discovers the new set by itself."""
    from volctl.core.operations.stack import scale_consumers
    from volctl.render.stack import scale_summary

    if what != "consumers":
        raise typer.BadParameter(f"only consumers scale on a running stack, not {what!r} (predict workers: "
                                 "`volctl down`, then `volctl up --predict-workers N`)", param_hint="WHAT")
    settings = settings_of(ctx)
    with console.steps("scaling") as status:
        states = scale_consumers(settings, count, config_file_of(ctx), progress=status.update, dry_run=dry_run)
    if as_json:
        console.emit_json(states)
    else:
        scale_summary(states, count, dry_run)


def down(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be stopped; stop nothing.",
            metavar="")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds between SIGTERM and SIGKILL.")] = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Stop every component volctl started: SIGTERM, then SIGKILL after --timeout."""
    from volctl.core.operations.stack import down as stop_stack
    from volctl.core.operations.stack_processes import ORDER
    from volctl.render.stack import down_table

    settings = settings_of(ctx)
    if not dry_run and not as_json:
        console.note(f"stopping the stack in {settings.state_path} ({', '.join(reversed(ORDER))})")
    outcomes = stop_stack(settings, dry_run, timeout)
    if as_json:
        console.emit_json(outcomes)
    else:
        down_table(outcomes, dry_run)


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """One row per component: pid, port, up/down, uptime, model, broker kind."""
    from volctl.core.operations.stack_status import status as stack_status
    from volctl.render.stack import status_table

    components = stack_status(settings_of(ctx))
    if as_json:
        console.emit_json(components)
    else:
        status_table(components)


def logs(
    ctx: typer.Context,
    component: Annotated[str | None, typer.Argument(help=f"One of {', '.join(COMPONENTS)}, or a member such as "
                                                         "consume-2 (default: all).")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="Lines to show from the end.")] = 40,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).",
            metavar="")] = False,
) -> None:
    """Show the end of a component's log (all components when none is named)."""
    from volctl.clients.processes import Supervisor
    from volctl.core.operations.stack_status import log_lines
    from volctl.domain.topology import parse_member

    if component is not None and component not in COMPONENTS and parse_member(component) is None:
        raise typer.BadParameter(f"unknown component {component!r}; one of {', '.join(COMPONENTS)} "
                                 "(or a member: consume-2, predict-2, ...)")
    settings = settings_of(ctx)
    supervisor = Supervisor(settings.state_path)

    def place(name: str) -> tuple[int, int]:
        service, index = parse_member(name) or (name, 1)
        return COMPONENTS.index(service), index

    names = [component] if component else sorted(
        (p.stem for p in supervisor.log_dir.glob("*.log") if p.stem in COMPONENTS or parse_member(p.stem)), key=place)
    for name in names:
        if len(names) > 1:
            console.out.rule(name)
        for line in log_lines(settings, name, lines):
            console.out.print(line, markup=False, highlight=False, soft_wrap=True)
    if follow and len(names) == 1:
        path = Supervisor(settings.state_path).log_path(names[0])
        with path.open(errors="replace") as handle:
            handle.seek(0, 2)
            while True:
                line = handle.readline()
                if line:
                    console.out.print(line.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
                else:
                    time.sleep(0.2)


def render(
    ctx: typer.Context,
    flavour: Annotated[str, typer.Option(help="embedded (this machine) or compose (compose.yaml).")] = "compose",
    out: Annotated[Path | None, typer.Option(help="Folder (default: `STATE_DIR/FLAVOUR`).", metavar="DIR")] = None,
) -> None:
    """Write the Prometheus config and rules and the Grafana dashboard rendered from templates/."""
    from volctl.reports.monitoring import render_monitoring

    settings = settings_of(ctx)
    files = render_monitoring(settings, flavour, out or settings.state_path / flavour)
    for path in files.all():
        console.out.print(str(path))
