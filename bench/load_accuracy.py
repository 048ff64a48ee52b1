"""`volctl load` beside Debian's `hey` and `wrk` on the same predict endpoint, in one run.

volctl load is open-model (fixed arrival times, latency from the intended time); hey with -q is
rate-limited per worker (closed loop per worker); wrk is closed-loop at fixed concurrency (its
rate is whatever the server allows). Printed side by side: achieved rate, p50/p99 per tool, and
volctl's p99 over hey's at the same rate. volctl runs as it would by default (its schedule dealt over
processes above 1,500 req/s) and, where that means several processes, in one process too: the
generator's own delay is what separates the two.

    python bench/load_accuracy.py [--seconds 5] [--rates 200,1000,2000,5000] [--registry DIR]
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
    parser.add_argument("--rates", default="200,1000,2000,5000")
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    from volctl.core.operations.load import processes_for, real_bodies, run_load
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
    print(f"{'asked':>6} {'tool':<16} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/hey':>8}  note")
    try:
        for rate in (float(r) for r in args.rates.split(",")):
            theirs = None
            if shutil.which("hey"):
                workers = max(10, int(rate // 100))
                theirs = hey(url, body, args.seconds, workers, rate_per_worker=rate / workers)
            runs = sorted({processes_for(rate), 1}, reverse=True)
            for processes in runs:
                ours = run_load(url, bodies, rate, args.seconds, processes=processes)
                p99 = ours.corrected.percentile(99) * 1000
                ratio = f"{p99 / theirs['p99_ms']:>7.1f}x" if theirs else f"{'-':>8}"
                note = "corrected (from intended time)" + ("" if ours.kept_up else "; could NOT keep up")
                print(f"{rate:>6.0f} {f'volctl load x{processes}':<16} {ours.achieved_rps:>9.1f} "
                      f"{ours.corrected.percentile(50) * 1000:>8.2f} {p99:>8.2f} {ratio}  {note}")
            if theirs:
                print(f"{rate:>6.0f} {'hey -q':<16} {theirs['rps']:>9.1f} {theirs['p50_ms']:>8.2f} "
                      f"{theirs['p99_ms']:>8.2f} {'1.0x':>8}  {workers} workers, closed loop each")
        if shutil.which("wrk"):
            theirs = wrk(url, body, args.seconds)
            print(f"{'max':>6} {'wrk':<16} {theirs['rps']:>9.1f} {theirs['p50_ms']:>8.2f} {theirs['p99_ms']:>8.2f}"
                  f" {'':>8}  32 connections, closed loop: the server's ceiling")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
