"""Model rollback under load: `volctl rollback` (admin switch, no restart) beside the old way
(restart the predict service with another variant), in one run.

Starts predict, consume and the embedded broker with `volctl up` (no Prometheus needed), drives
/predict at a constant rate with `volctl load`'s generator, rolls back to baseline and forward to
ml, then restarts the predict service, and prints for each: time taken, failed requests, and
whether every request sent after the switch was answered by the new variant.

    python bench/rollback.py [--rps 200] [--registry DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, SHARED_DATA, free_port, registry_with_model

VOLCTL = str(Path(sys.executable).parent / "volctl")


class Answers:
    """(intended send time, status, variant) of every answer, from the load generator's observer."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, int, str]] = []

    def __call__(self, due: float, status: int, body: bytes) -> None:
        variant = json.loads(body).get("model_variant", "?") if status == 200 else "-"
        self.rows.append((due, status, variant))

    def variants_after(self, start: float, end: float = float("inf")) -> set[str]:
        return {variant for due, _, variant in self.rows if start <= due < end}


def volctl(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run([VOLCTL, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    from volctl.clients.processes import Supervisor
    from volctl.core.operations.load import real_bodies, run_load
    from volctl.domain.registry import Registry

    registry = registry_with_model(args.registry)
    state = Path(tempfile.mkdtemp(prefix="volctl-bench-rollback-"))
    ports = {name: free_port() for name in ("kafka", "predict", "consume")}
    config = state / "volctl.toml"
    config.write_text(f'state_dir = "{state}"\n[kafka]\nembedded_port = {ports["kafka"]}\n'
                      f'[prometheus]\nembedded = false\nurl = "http://127.0.0.1:{free_port()}"\n'
                      f'[alertmanager]\nembedded = false\nurl = "http://127.0.0.1:{free_port()}"\n'
                      f'[predict]\nport = {ports["predict"]}\n[consume]\nport = {ports["consume"]}\n'
                      f'[model]\nregistry_dir = "{registry}"\nvariant = "ml"\n')  # ml served: roll back from it
    env = {**os.environ, "VOLCTL_CONFIG": str(config), "NO_COLOR": "1"}
    _, up = volctl(env, "up")
    if up.returncode != 0:
        print(up.stdout, up.stderr)
        return 3
    features = Registry(registry).manifest(Registry(registry).latest())["features"]
    bodies, source = real_bodies(features, SHARED_DATA if SHARED_DATA.is_dir() else None)
    url = f"http://127.0.0.1:{ports['predict']}/predict"
    print(f"{args.rps:g} req/s on {url} ({source})")
    print(f"{'action':<34} {'took':>8} {'failed requests':>16}  after the switch")
    try:
        answers = Answers()
        result: dict[str, object] = {}
        load = threading.Thread(target=lambda: result.update(run=run_load(
            url, bodies, args.rps, 12.0, observe=answers)))
        load.start()
        time.sleep(3)
        marks = []
        for target in ("baseline", "ml"):
            took, switch = volctl(env, "rollback", "--to", target, "--yes", "--json")
            report = json.loads(switch.stdout) if switch.returncode == 0 else {"seconds": float("nan")}
            marks.append((target, time.perf_counter(), took, report["seconds"]))
            time.sleep(3)
        load.join()
        run = result["run"]
        for index, (target, done, took, inner) in enumerate(marks):
            until = marks[index + 1][1] - 1.0 if index + 1 < len(marks) else float("inf")
            seen = answers.variants_after(done, until)
            print(f"{'volctl rollback --to ' + target:<34} {took:>7.2f}s {'':>16}  {sorted(seen)} "
                  f"(switch itself {inner * 1000:.0f} ms, the rest is CLI start)")
        print(f"{'  during both (12 s of load)':<34} {'':>8} {run.error_count:>16}  "
              f"{run.sent} sent, {run.ok} ok, achieved {run.achieved_rps:.1f} req/s")
        rollback_failed = run.error_count

        answers = Answers()
        load = threading.Thread(target=lambda: result.update(run=run_load(
            url, bodies, args.rps, 10.0, observe=answers)))
        load.start()
        time.sleep(2)
        started = time.perf_counter()
        Supervisor(state).stop("predict", 10)
        (state / "model" / "predict.json").unlink(missing_ok=True)  # the old way had no persisted choice
        env_restart = {**env, "MODEL_VARIANT": "baseline"}
        subprocess.run([VOLCTL, "up"], env=env_restart, cwd=ROOT, capture_output=True, timeout=120)
        took = time.perf_counter() - started
        load.join()
        run = result["run"]
        print(f"{'restart predict (the old way)':<34} {took:>7.2f}s {run.error_count:>16}  "
              f"{sorted(answers.variants_after(started + took))}; consume was not switched at all")
        print(f"side by side: failed requests {run.error_count} (restart) vs {rollback_failed} (rollback); "
              f"time {took:.2f} s vs {marks[0][2]:.2f} s = {took / marks[0][2]:.1f}x")
    finally:
        volctl(env, "down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
