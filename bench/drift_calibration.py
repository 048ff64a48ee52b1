"""Does the drift alarm cry wolf, and does it still catch a real change? Measured side by side in one
run: thresholds calibrated on the reference's own chunks against Evidently's defaults (normed
Wasserstein 0.1, or K-S p < 0.05 under 1,000 rows; drift above a 0.5 share), on the same windows.

A version is trained on the 2025 recordings only; the 2026 recordings are held out. Normal windows:
consecutive windows of those held-out sessions. Changed windows: the same sessions with 5x wider
spreads and every 4th tick kept, or with prices replaced by a random walk of 5x the volatility.
Then `volctl drift report` on an hour of feature rows is timed end to end.

    python bench/drift_calibration.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ROOT, SHARED_DATA

from volctl.core.model.dataset import load_dataset, series_frame
from volctl.core.model.drift import _evidently
from volctl.core.model.drift_calibration import chunks_of, load_calibration, wasserstein_norm
from volctl.core.model.training import train_model
from volctl.domain.features import FEATURES
from volctl.domain.perturb import wider_and_thinner, wilder_walk
from volctl.domain.recordings import iter_series
from volctl.domain.registry import REFERENCE_FILE, Registry
from volctl.domain.synthetic import synthetic_ticks

SYNTHETIC_START = 1_764_547_200.0  # where the synthetic source starts (2025-12-01)

WINDOWS_S = (30.0, 300.0)  # the demo's young stream, and a 5 min window


def drifted_share(window: pd.DataFrame, reference: pd.DataFrame, thresholds: dict[str, float]) -> float:
    tested = [name for name in thresholds if window[name].notna().sum() >= 5 and reference[name].notna().any()]
    drifted = sum(wasserstein_norm(reference[name].dropna().to_numpy(), window[name].dropna().to_numpy())
                  > thresholds[name] for name in tested)
    return drifted / len(tested) if tested else 0.0


def calibrated_alarm(window: pd.DataFrame, reference: pd.DataFrame, calibration: dict) -> bool:
    thresholds = {name: entry["threshold"] for name, entry in calibration["features"].items()}
    return drifted_share(window, reference, thresholds) > calibration["share"]["threshold"]


def default_alarm(window: pd.DataFrame, reference: pd.DataFrame) -> bool:
    """Evidently's defaults with a reference over 1,000 rows: normed Wasserstein >= 0.1, drift above
    a 0.5 share (checked against Evidently's own run on the first windows)."""
    return drifted_share(window, reference, dict.fromkeys(FEATURES, 0.1)) > 0.5


def evidently_alarm(window: pd.DataFrame, reference: pd.DataFrame) -> bool:
    columns = [f for f in FEATURES if window[f].notna().sum() >= 5 and reference[f].notna().any()]
    document = _evidently(reference[columns], window[columns], 0.5, None).dict()
    for metric in document["metrics"]:
        if str(metric.get("config", {}).get("type", "")).endswith("DriftedColumnsCount"):
            return metric["value"]["share"] > 0.5
    raise RuntimeError("Evidently returned no drifted-columns count")


def table(title: str, reference: pd.DataFrame, calibrations: dict, streams: dict[str, list[pd.DataFrame]]) -> None:
    print(f"\n{title}")
    for window_s in WINDOWS_S:
        calibration = calibrations[str(int(window_s))]
        print(f"  {window_s:g} s windows (calibrated on {calibration['chunks']} reference chunks; drift above "
              f"{calibration['share']['threshold']:.0%} of the features)")
        print(f"    {'stream':<14} {'windows':>7}  {'calibrated':>22}  {'Evidently defaults':>18}")
        for name, frames in streams.items():
            windows = [frame.iloc[rows] for frame in frames for rows in chunks_of(frame["ts"].to_numpy(), window_s)]
            for window in windows[:2]:  # the default rule is Evidently's own decision
                assert default_alarm(window, reference) == evidently_alarm(window, reference)
            ours = sum(calibrated_alarm(w, reference, calibration) for w in windows)
            theirs = sum(default_alarm(w, reference) for w in windows)
            what = "false alarms" if name == "normal" else "detected"
            print(f"    {name:<14} {len(windows):>7}  {ours:>4} {what:<12} {ours / len(windows):>4.0%}  "
                  f"{theirs:>4} {theirs / len(windows):>4.0%}")


def streams_of(paths: list[Path], changed: bool) -> dict[str, list[pd.DataFrame]]:
    streams: dict[str, list[pd.DataFrame]] = {"normal": []}
    if changed:
        streams |= {"wider+thinner": [], "wilder walk": []}
    def logged(frame: pd.DataFrame) -> pd.DataFrame:  # what the consume service logs for drift
        return frame[frame["comparable"].astype(bool)]

    for path in paths:
        ticks = list(iter_series(path))
        streams["normal"].append(logged(series_frame(path.name, ticks)))
        if changed:
            streams["wider+thinner"].append(logged(series_frame(path.name, wider_and_thinner(ticks))))
            streams["wilder walk"].append(logged(series_frame(path.name, wilder_walk(ticks))))
    return streams


def trained(paths: list[Path]) -> tuple[Registry, str, float]:
    registry = Registry(Path(tempfile.mkdtemp(prefix="volctl-bench-drift-")))
    started = time.perf_counter()
    version = train_model(load_dataset(paths), registry).version
    return registry, version, time.perf_counter() - started


def main() -> None:
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"drift_calibration needs the real recordings in {SHARED_DATA}")
    recordings = sorted(p for p in SHARED_DATA.iterdir() if not p.name.endswith(".md"))
    early = [p for p in recordings if "2025" in p.name]
    late = [p for p in recordings if "2026" in p.name]

    registry, version, took = trained(recordings)
    print(f"A. the demo's case: {version} trained on all {len(recordings)} recordings in {took:.1f} s (drift "
          "calibration included), consecutive windows of the same recordings replayed")
    reference = pd.read_parquet(registry.folder(version) / REFERENCE_FILE)
    table("normal windows of the replayed recordings", reference, load_calibration(registry, version)["windows"],
          streams_of(recordings, changed=False))

    registry, version, took = trained(early)
    print(f"\nB. held out: {version} trained on the {len(early)} recordings of 2025 only; windows of the "
          f"{len(late)} recordings of 2026, as recorded and changed")
    reference = pd.read_parquet(registry.folder(version) / REFERENCE_FILE)
    table("held-out windows", reference, load_calibration(registry, version)["windows"],
          streams_of(late, changed=True))
    timed_report(registry)

    registry = Registry(Path(tempfile.mkdtemp(prefix="volctl-bench-drift-")))
    version = train_model(load_dataset(None), registry).version
    later = series_frame("synthetic", synthetic_ticks(seed=11, duration_s=7200, start_ts=SYNTHETIC_START + 5 * 3600))
    print(f"\nC. no recordings: {version} trained on the seeded synthetic source (4 h); later synthetic ticks "
          "(another seed), as `volctl up --demo` streams them")
    table("normal synthetic windows", pd.read_parquet(registry.folder(version) / REFERENCE_FILE),
          load_calibration(registry, version)["windows"], {"normal": [later[later["comparable"].astype(bool)]]})


def timed_report(registry: Registry) -> None:
    """`volctl drift report` (a fresh process: imports, Evidently, files) on one hour of feature rows."""
    frame = load_dataset([SHARED_DATA / "btcusd_2025-11-12_to_14_exchange_ticker.ndjson"]).frame
    hours = np.floor(frame["ts"] / 3600)
    busiest = hours.value_counts().idxmax()
    hour = frame[hours == busiest]
    with tempfile.TemporaryDirectory() as folder:
        current = Path(folder) / "hour.parquet"
        hour.to_parquet(current)
        config = Path(folder) / "volctl.toml"
        config.write_text(f'state_dir = "{folder}"\n[predict]\nport = 1\n[model]\nregistry_dir = "{registry.root}"\n')
        volctl = str(Path(sys.executable).parent / "volctl")
        env = {**os.environ, "VOLCTL_CONFIG": str(config)}
        started = time.perf_counter()
        result = subprocess.run([volctl, "drift", "report", "--current", str(current), "--json"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        took = time.perf_counter() - started
    print(f"\nvolctl drift report on 1 h of features ({len(hour):,} rows) against the training split: "
          f"{took:.1f} s (exit {result.returncode})")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
