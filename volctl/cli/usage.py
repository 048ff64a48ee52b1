"""What every command's `--help` ends with: two or three real examples and its exit codes, kept
in this one table (a test runs each example through the real parser, and fails for a command
that has none)."""

from __future__ import annotations

from typing import Any

# command path -> (examples, exit codes). Every command also exits 2 on a usage error.
USAGE: dict[str, tuple[tuple[str, ...], str]] = {
    "up": (("volctl up", "volctl up --demo", "volctl up --consumers 3 --predict-workers 2 --guard"),
           "0 every component answers on one model; 1 running, but not every service serves the recorded "
           "model; 3 a component could not start (its log says why)"),
    "down": (("volctl down", "volctl down --dry-run", "volctl down --timeout 30"),
             "0 stopped (or nothing ran); 3 the state dir cannot be read"),
    "status": (("volctl status", "volctl status --json"), "0 always: a component that is down is shown, "
               "with how it ended (`volctl health` judges)"),
    "health": (("volctl health", "volctl health --wait 10", "volctl health --watch --interval 5"),
               "0 healthy; 1 a check failed; 3 nothing could be reached (is the stack up?)"),
    "logs": (("volctl logs consume", "volctl logs predict -n 100", "volctl logs prometheus --follow"),
             "0 shown; 3 no log for that component yet"),
    "ingest": (("volctl ingest --synthetic --duration 60", "volctl ingest --replay DIR --loop --event-time now",
                "volctl ingest --live --record DIR --limit 5000"),
               "0 every tick delivered; 3 the broker went away or ticks were not delivered; 130 interrupted"),
    "load": (("volctl load --rps 20 --duration 30s", "volctl load --ramp 10:200:60s --html load.html",
              "volctl load --rps 50 --save before.json"),
             "0 every objective passed; 1 one failed (or the generator could not keep up); 3 the service "
             "does not answer"),
    "rollback": (("volctl rollback --to baseline --reason \"p95 over 800 ms\"", "volctl rollback --to ml --dry-run",
                  "volctl rollback --history -n 10"),
                 "0 switched (or already serving it); 1 a service refused or did not verify, and the other was "
                 "switched back; 3 a service is unreachable, the target does not exist, or the state dir's disk "
                 "is full (nothing is switched)"),
    "topics": (("volctl topics", "volctl topics --json"), "0 listed; 3 the broker cannot be reached"),
    "tail": (("volctl tail ticks.raw -n 5", "volctl tail ticks.predictions --follow --compact",
              "volctl tail ticks.dlq --from-beginning --json"),
             "0 shown; 3 no such topic or the broker cannot be reached"),
    "lag": (("volctl lag", "volctl lag --window 60", "volctl lag --watch --stop-threshold 30"),
            "0 OK or WARN; 1 ERR, STALL or STOP; 3 no such group, lag unknown or the broker unreachable"),
    "gate": (("volctl gate", "volctl gate --rps 20 --duration 30s", "volctl gate --skip-load --accept-inconclusive "
              "quality"),
             "0 every check passed; 1 a check failed (the JSON names the classes); 3 a check was "
             "inconclusive or could not measure (nothing ships on what was not judged)"),
    "quality": (("volctl quality", "volctl quality --window 2h", "volctl quality --html quality.html"),
                "0 the served model is not worse and meets the floors; 1 it is worse than a challenger or below "
                "a floor (the rollback that would fix it is printed); 3 too few labelled ticks or episodes"),
    "guard": (("volctl guard --dry-run", "volctl guard --interval 60 --failure-limit 3",
               "volctl guard --count 1 --json"),
              "0 when stopped (each evaluation is one line); 3 no admin token or Prometheus unreachable at start"),
    "render": (("volctl render", "volctl render --flavour compose --out rendered"),
               "0 written; 3 the folder cannot be written"),
    "scale": (("volctl scale consumers 3", "volctl scale consumers 1 --dry-run"),
              "0 every member runs and the group settled; 3 a member could not start"),
    "model train": (("volctl model train", "volctl model train --synthetic --seed 7",
                     "volctl model train --from-live --window 6h"),
                    "0 trained (or an identical version exists); 3 too few labelled rows, or the disk is full "
                    "(no partial version is left)"),
    "model retrain": (("volctl model retrain", "volctl model retrain --window 12h"),
                      "0 trained and added in shadow; 3 nothing recorded yet or the stack cannot be reached"),
    "model list": (("volctl model list", "volctl model list --wide", "volctl model list --json"),
                   "0 listed; 3 no registry yet"),
    "model show": (("volctl model show", "volctl model show VERSION --html model.html"),
                   "0 shown; 3 no such version"),
    "model evaluate": (("volctl model evaluate VERSION --data DIR", "volctl model evaluate VERSION --html eval.html"),
                       "0 evaluated; 3 no labelled rows with both classes"),
    "slo check": (("volctl slo check", "volctl slo check --window 1h --explain", "volctl slo check --html slo.html"),
                  "0 pass (all met); 1 fail (an objective breached); 3 inconclusive (too little traffic, no data) "
                  "or error"),
    "drift report": (("volctl drift report", "volctl drift report --window 2h --out drift",
                      "volctl drift report --current FILE --perturb spread=5,thin=4"),
                     "0 no drift; 1 the drifted share exceeds the threshold; 3 not enough data (the counts are "
                     "shown)"),
    "drift calibrate": (("volctl drift calibrate VERSION", "volctl drift calibrate VERSION --window 30m"),
                        "0 calibrated; 3 no such version or too few reference rows"),
    "runbook list": (("volctl runbook list", "volctl runbook list --wide", "volctl runbook list --json"), "0 listed"),
    "runbook show": (("volctl runbook show high-latency", "volctl runbook show PredictLatencyHigh"),
                     "0 shown; 3 no such runbook"),
    "runbook run": (("volctl runbook run health-check", "volctl runbook run consumer-lag --yes",
                     "volctl runbook run ConsumerDown --json"),
                    "0 the runbook ended resolved; 1 it stopped (escalate, a step failed, or a step that changes "
                    "state was not confirmed); 130 interrupted"),
    "runbook check": (("volctl runbook check", "volctl runbook check my-runbook.md"),
                      "0 every step is a real command and every decision points at a step; 1 one is broken"),
    "shadow add": (("volctl shadow add VERSION:ml --reason \"try the retrained model\"",
                    "volctl shadow add VERSION --json"),
                   "0 added on every consume member; 1 a member refused; 3 a member cannot be reached"),
    "shadow remove": (("volctl shadow remove VERSION:ml --reason \"enough evidence\"",
                       "volctl shadow remove VERSION --json"),
                      "0 removed on every consume member; 1 a member refused; 3 a member cannot be reached"),
    "shadow list": (("volctl shadow list", "volctl shadow list --json"), "0 listed; 3 consume cannot be reached"),
    "alerts": (("volctl alerts", "volctl alerts --watch", "volctl alerts --recent 20 --json"),
               "0 none firing; 1 an alert fires (silenced or inhibited ones do not count); 3 Alertmanager "
               "cannot be reached, or Prometheus cannot and nothing fires (whether one fires cannot be known)"),
    "alerts silence": (("volctl alerts silence ConsumerDown --for 30m --reason \"broker upgrade\"",
                        "volctl alerts silence StreamStale --for 10d --reason \"feed paused\" --force"),
                       "0 silenced (audited); 3 no admin token, unknown alert, longer than alertmanager.max_silence "
                       "without --force, or Alertmanager unreachable"),
    "alerts unsilence": (("volctl alerts unsilence SILENCE_ID",
                          "volctl alerts unsilence 6f1c2c51-7b0e-4d1a-9a53-0c2f5e8d7b21"),
                         "0 lifted (audited); 3 no admin token, no such silence, or Alertmanager unreachable"),
}


def epilog(path: str) -> str:
    examples, exits = USAGE[path]
    shown = "\n".join(f"    {example}" for example in examples)
    return f"**Examples**\n\n{shown}\n\n**Exit codes**: {exits}; 2 a usage error."


def attach(app: Any, prefix: str = "") -> None:
    """Give every command of a typer app (and of its groups) its epilog from USAGE."""
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.rstrip("_").replace("_", "-")
        info.epilog = epilog(f"{prefix}{name}")
    for group in app.registered_groups:
        sub = group.typer_instance
        path = f"{prefix}{group.name}"
        if sub.registered_callback is not None and path in USAGE:
            sub.info.epilog = epilog(path)
        attach(sub, f"{path} ")
