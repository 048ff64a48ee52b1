"""Predict service capacity of every model variant against a bare uvicorn app returning a constant,
side by side.

All run under the same uvicorn settings on this machine and are driven by `hey` (Debian package)
from a second process: first at increasing concurrency to find the sustained throughput of each,
then at a fixed 500 requests/s for latency percentiles. Prints each variant's throughput ratio to
the bare app (target >= 50 %): a variant without a fast single-row path is no candidate.

    python bench/predict_capacity.py [--seconds 5] [--registry DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, free_port, registry_with_model

CONCURRENCY = (1, 4, 10, 25)


async def bare_app(scope, receive, send):  # the ceiling: an ASGI app that returns a constant
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"scores":[0.5],"labels":[0]}'})


def start(args: list[str], url: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            httpx.get(url, timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{args} did not start")


def hey(url: str, body: Path, seconds: float, concurrency: int, rate_per_worker: float = 0) -> dict[str, float]:
    command = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-T", "application/json",
               "-D", str(body), "-disable-keepalive=false"]
    if rate_per_worker:
        command += ["-q", str(rate_per_worker)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "95", "99"):
        match = re.search(rf"{pct}% in ([\d.]+) secs", output)
        result[f"p{pct}_ms"] = float(match.group(1)) * 1000 if match else float("nan")
    statuses = re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)
    result["non_200"] = sum(int(n) for code, n in statuses if code != "200")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is not installed: apt-get install hey")
    from volctl.domain.registry import Registry

    registry = registry_with_model(args.registry)
    manifest = Registry(registry).manifest(Registry(registry).latest())
    body = Path(tempfile.mkstemp(suffix=".json")[1])
    body.write_text(json.dumps({"rows": manifest["sample_rows"][:1]}))

    from volctl.domain.variants import VARIANTS

    servers = {}
    for variant in VARIANTS:  # every variant serves at full speed: each against the same bare ceiling
        port = free_port()
        servers[variant] = (start(["-m", "services.predict", "--port", str(port), "--registry", str(registry),
                                   "--variant", variant], f"http://127.0.0.1:{port}/health"),
                            f"http://127.0.0.1:{port}/predict")
    bare_port = free_port()
    servers["bare"] = (start(["-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "predict_capacity:bare_app",
                              "--port", str(bare_port), "--log-level", "warning", "--no-access-log"],
                             f"http://127.0.0.1:{bare_port}/"), f"http://127.0.0.1:{bare_port}/predict")
    try:
        best = {name: 0.0 for name in servers}
        print(f"{'concurrency':>11} " + " ".join(f"{name + ' rps':>13}" for name in servers)
              + "".join(f" {v + '/bare':>13}" for v in VARIANTS))
        for concurrency in CONCURRENCY:  # alternate the servers so that machine noise hits all alike
            row = {name: hey(url, body, args.seconds, concurrency) for name, (_, url) in servers.items()}
            for name in servers:
                best[name] = max(best[name], row[name]["rps"])
                if row[name]["non_200"]:
                    print(f"  {name}: {row[name]['non_200']} non-200 answers")
            print(f"{concurrency:>11} " + " ".join(f"{row[name]['rps']:>13.0f}" for name in servers)
                  + "".join(f" {row[v]['rps'] / row['bare']['rps']:>13.0%}" for v in VARIANTS))
        for variant in VARIANTS:
            print(f"sustained throughput: {variant} {best[variant]:.0f} rps, bare {best['bare']:.0f} rps, "
                  f"ratio {best[variant] / best['bare']:.0%} (target >= 50%)")
        print("at 500 requests/s (10 workers x 50/s):")
        for name, (_, url) in servers.items():
            fixed = hey(url, body, args.seconds, 10, rate_per_worker=50)
            print(f"  {name:<8} achieved {fixed['rps']:.0f} rps  p50 {fixed['p50_ms']:.2f} ms  "
                  f"p95 {fixed['p95_ms']:.2f} ms  p99 {fixed['p99_ms']:.2f} ms")
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
