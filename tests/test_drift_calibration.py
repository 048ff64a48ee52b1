"""Drift thresholds calibrated on the reference's own chunks (issue 15): the statistic is
Evidently's, the thresholds follow the spread of normal chunks, a normal later session passes and a
stream whose microstructure really changed is flagged with the features that moved."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, volctl, write_config
from volctl.core.model.drift_calibration import (
    MIN_CHUNKS_FOR_QUANTILE,
    calibrate_features,
    choose_window,
    chunks_of,
    threshold_of,
    wasserstein_norm,
)
from volctl.domain.perturb import shifted, wider_and_thinner, wilder_walk, write_recording
from volctl.domain.recordings import iter_series

APR_3 = "btc_eth_2026-04-03_flat.ndjson"  # after the training split's end: a normal later session


@pytest.mark.integration
def test_the_statistic_is_evidentlys_normed_wasserstein() -> None:
    from evidently.legacy.calculations.stattests import wasserstein_stat_test
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(2)
    for reference, current in ((rng.lognormal(size=20_000) * 1e-5, rng.lognormal(size=400) * 2e-5),
                               (rng.normal(size=300), rng.normal(1, 2, size=35)),
                               (np.zeros(50), np.ones(50))):  # std 0: Evidently floors the norm at 0.001
        expected = wasserstein_stat_test(pd.Series(reference), pd.Series(current), ColumnType.Numerical,
                                         None).drift_score
        assert wasserstein_norm(reference, current) == pytest.approx(expected, rel=1e-12)


def test_thresholds_follow_the_spread_of_the_reference_chunks() -> None:
    rng = np.random.default_rng(3)
    rows = 60 * 200  # 200 one-minute chunks of 60 rows
    frame = pd.DataFrame({"ts": np.arange(rows) * 1.0, "calm": rng.normal(size=rows),
                          "sessions": rng.normal(size=rows) + np.repeat(rng.normal(0, 3, 20), rows // 20)})
    assert len(chunks_of(frame["ts"].to_numpy(), 60)) == 200
    wide = calibrate_features(frame, ["calm", "sessions"], 60.0)
    calm, sessions = wide["features"]["calm"], wide["features"]["sessions"]
    assert sessions["threshold"] > 5 * calm["threshold"]  # session-to-session variation is normal here
    assert calm["threshold"] == pytest.approx(np.quantile(calm["null_scores"], 0.99), rel=1e-4)  # stored rounded
    assert calm["false_alarm_rate"] <= 0.03  # a 99th percentile: about 1 % of chunks
    assert wide["share"]["threshold"] >= 0.5  # never one feature alone (of two)
    few = calibrate_features(frame.iloc[: 60 * 20], ["calm"], 60.0)  # 20 chunks: the maximum
    assert few["chunks"] < MIN_CHUNKS_FOR_QUANTILE
    assert few["features"]["calm"]["threshold"] == pytest.approx(max(few["features"]["calm"]["null_scores"]), rel=1e-4)
    assert threshold_of(np.array([np.nan])) != threshold_of(np.array([np.nan]))  # nothing known: NaN


def test_the_calibration_fits_what_the_current_rows_cover() -> None:
    document = {"windows": {"30": {"chunks": 200}, "300": {"chunks": 40}, "3600": {"chunks": 7}}}
    assert choose_window(document, 3600, 3600)[0]["chunks"] == 7
    chosen, why = choose_window(document, 3600, 900)  # a young stream: 15 min of a 1 h window
    assert chosen["chunks"] == 40 and "cover 15 min of the 60 min window" in why
    assert choose_window(document, 600, 40)[0]["chunks"] == 200
    nothing, why = choose_window(document, 600, 10)
    assert nothing is None and "shortest calibrated window (30 s)" in why
    assert choose_window(None, 600, 600)[0] is None


def _config(tmp_path: Path, registry: Path) -> Path:
    return write_config(tmp_path / "volctl.toml", {"state_dir": str(tmp_path / "state"),
                                                    "model.registry_dir": str(registry)})


def _volctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return volctl(*args, env={"VOLCTL_CONFIG": str(config), "NO_COLOR": "1", "COLUMNS": "160"})


@pytest.mark.integration
def test_a_normal_session_passes_and_changed_microstructure_is_flagged(
        tmp_path: Path, shared_data: Path, trained_registry: Path) -> None:
    config = _config(tmp_path, trained_registry)
    normal = _volctl(config, "drift", "report", "--current", str(shared_data / APR_3), "--json")
    assert normal.returncode == 0, normal.stdout + normal.stderr
    report = json.loads(normal.stdout)
    assert report["calibrated"] and "reference chunks" in report["calibration"] and not report["drifted"]
    assert all(f["false_alarm_rate"] is not None for f in report["features"] if f["score"] is not None)
    html = Path(report["outputs"]["html"]).read_text()
    assert "volctl: pass: no drift" in html and "false alarms" in html  # the verdict above Evidently's page
    markdown = Path(report["outputs"]["markdown"]).read_text()
    assert "| false alarms |" in markdown and "within normal session-to-session variation" in markdown

    ticks = list(iter_series(shared_data / APR_3))
    # Quoted 5x wider and updated 4x less often: the spread moves beyond the reference's own variation.
    # The tick rate does not any more: the training split now holds a recording of one row per ticker
    # message (PROVENANCE.md), whose tick rates differ from the others' by more than 4x.
    for name, stream, moved in (("wider", wider_and_thinner(ticks), {"spread_bps"}),
                                ("wilder", wilder_walk(ticks), {"ret_std_30s", "ret_std_60s"})):
        path = tmp_path / f"{name}.ndjson"
        write_recording(path, shifted(stream, 7200))
        changed = _volctl(config, "drift", "report", "--current", str(path))
        assert changed.returncode == 1, changed.stdout + changed.stderr
        assert "fail: drift" in changed.stdout
        assert "false-alarm rate" in changed.stdout
        line = next(row for row in changed.stdout.splitlines() if row.startswith("moved: "))
        assert moved <= set(line.removeprefix("moved: ").split(", ")), line


@pytest.mark.integration
def test_drift_calibrate_adds_a_window_and_the_file_is_checked(tmp_path: Path, trained_registry: Path) -> None:
    import shutil

    from volctl.domain.registry import Registry

    root = tmp_path / "registry"
    shutil.copytree(trained_registry, root)
    config = _config(tmp_path, root)
    result = _volctl(config, "drift", "calibrate", "--window", "10m", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    calibration = document["windows"]["600"]
    assert calibration["chunks"] > 5 and calibration["share"]["threshold"] > 0
    registry = Registry(root)
    stored = json.loads(registry.attached(document["version"], "drift_calibration").read_text())
    assert set(stored["windows"]) == {"30", "300", "600", "3600"}  # training's windows kept
    path = registry.attached(document["version"], "drift_calibration")
    path.write_text(path.read_text().replace('"threshold"', '"threshold" ', 1))  # edited by hand
    refused = _volctl(config, "drift", "report", "--current", str(ROOT.parent / "shared" / "data" / APR_3))
    assert refused.returncode == 3 and "does not match" in refused.stderr, refused.stderr
