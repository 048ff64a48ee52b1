"""`volctl load` beside Debian's `hey` and `wrk` on the same predict endpoint, in one run.

volctl load is open-model (fixed arrival times, latency from the intended time); hey with -q is
rate-limited per worker (closed loop per worker); wrk is closed-loop at fixed concurrency (its
rate is whatever the server allows). Printed side by side: achieved rate and p50/p99 per tool.

    python bench/load_accuracy.py [--seconds 5] [--rates 200,1000,2000] [--registry DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import SHARED_DATA, free_port, registry_with_model
from predict_capacity import hey, start


def wrk(url: str, body: Path, seconds: float, connections: int = 32) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = [[{body.read_text()}]]\n")
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script),
                             url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", output)
        scale = {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)] if match else 0
        result[f"p{pct}_ms"] = float(match.group(1)) * scale if match else float("nan")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="200,1000,2000")
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    from volctl.core.load import real_bodies, run_load
    from volctl.domain.registry import Registry

    registry = registry_with_model(args.registry)
    features = Registry(registry).manifest(Registry(registry).latest())["features"]
    bodies, source = real_bodies(features, SHARED_DATA if SHARED_DATA.is_dir() else None)
    body = Path(tempfile.mkstemp(suffix=".json")[1])
    body.write_bytes(bodies[0])
    port = free_port()
    server = start(["-m", "services.predict", "--port", str(port), "--registry", str(registry)],
                   f"http://127.0.0.1:{port}/health")
    url = f"http://127.0.0.1:{port}/predict"
    print(f"payload: {source}")
    print(f"{'asked':>6} {'tool':<12} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8}  note")
    try:
        for rate in (float(r) for r in args.rates.split(",")):
            ours = run_load(url, bodies, rate, args.seconds)
            note = "corrected (from intended time)" + ("" if ours.kept_up else "; could NOT keep up")
            print(f"{rate:>6.0f} {'volctl load':<12} {ours.achieved_rps:>9.1f} "
                  f"{ours.corrected.percentile(50) * 1000:>8.2f} {ours.corrected.percentile(99) * 1000:>8.2f}  {note}")
            if shutil.which("hey"):
                workers = 10
                theirs = hey(url, body, args.seconds, workers, rate_per_worker=rate / workers)
                print(f"{rate:>6.0f} {'hey -q':<12} {theirs['rps']:>9.1f} {theirs['p50_ms']:>8.2f} "
                      f"{theirs['p99_ms']:>8.2f}  {workers} workers, closed loop each")
        if shutil.which("wrk"):
            theirs = wrk(url, body, args.seconds)
            print(f"{'max':>6} {'wrk':<12} {theirs['rps']:>9.1f} {theirs['p50_ms']:>8.2f} {theirs['p99_ms']:>8.2f}"
                  "  32 connections, closed loop: the server's ceiling")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
