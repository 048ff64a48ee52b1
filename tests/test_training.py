"""Training on the real recordings, the registry's integrity check, and the scoring fast path."""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_DATA, WEEK, cached_registry
from volctl.core.model.dataset import load_dataset
from volctl.core.model.training import TrainResult, train_model, training_fingerprint
from volctl.domain.errors import ConfigError, ModelIntegrityError, NotEnoughData
from volctl.domain.features import FEATURES
from volctl.domain.registry import MANIFEST, Registry, pipeline_file
from volctl.domain.variants import BASELINE, ML


def test_real_data_manifest_is_complete_and_time_ordered(trained_registry: Path) -> None:
    registry = Registry(trained_registry)
    manifest = registry.manifest(registry.latest())
    assert manifest["features"] == list(FEATURES)
    assert not manifest["data"]["synthetic"]
    assert len(manifest["data"]["sources"]) >= 9
    splits = manifest["data"]["splits"]
    assert datetime.fromisoformat(splits["train"]["end"]) < datetime.fromisoformat(splits["validation"]["start"])
    assert datetime.fromisoformat(splits["validation"]["end"]) < datetime.fromisoformat(splits["test"]["start"])
    for variant in (ML, BASELINE):
        metrics = manifest["variants"][variant]["metrics"]
        assert all(math.isfinite(metrics[k]) for k in ("pr_auc", "f1", "precision", "recall"))
    assert math.isfinite(manifest["label"]["threshold"]) and manifest["label"]["threshold"] > 0
    for variant in (ML, BASELINE):  # every variant says where it stands against chance, by its interval
        skill = manifest["variants"][variant]["metrics"]["skill"]
        low, high = skill["interval"]
        assert skill["verdict"] == ("skill" if low > 0 else "worse than chance" if high < 0 else "no evidence of skill")
    calibration = manifest["variants"][ML]["calibration"]
    assert abs(calibration["validation_mean_score"] - calibration["validation_base_rate"]) < 0.05
    ml_metrics = manifest["variants"][ML]["metrics"]  # a calibrated score without skill is no better than a
    # constant at the test split's own base rate, and the manifest says which it is
    assert ml_metrics["brier_worse_than_constant"] == (ml_metrics["brier"] > ml_metrics["brier_constant"])
    assert len(manifest["sample_rows"]) >= 1


def test_training_on_a_slice_of_real_data(week_registry: Path) -> None:
    manifest = Registry(week_registry).manifest(Registry(week_registry).latest())
    splits = manifest["data"]["splits"]
    assert manifest["data"]["sources"] == sorted(p.name for p in (SHARED_DATA / WEEK).iterdir())
    assert splits["train"]["end"] < splits["test"]["start"]
    assert math.isfinite(manifest["variants"][ML]["metrics"]["pr_auc"])


@pytest.mark.integration
def test_synthetic_training_is_labelled_synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(cached_registry("synthetic", None), tmp_path, dirs_exist_ok=True)  # make demo's too
    trained = Registry(tmp_path).latest()
    result = TrainResult(trained, tmp_path / trained, Registry(tmp_path).manifest(trained))
    assert result.manifest["data"]["synthetic"] is True
    assert result.manifest["data"]["sources"] == ["synthetic"]
    assert result.version.endswith("-synthetic")
    dataset = load_dataset(None)  # the synthetic source as `up` trains on it where there are no recordings
    again = train_model(dataset, Registry(tmp_path))
    assert again.identical_to == result.version == again.version  # same rows, seed and code: no twin
    assert Registry(tmp_path).versions() == [result.version]
    import volctl.core.model.evaluation as evaluation

    compared = []  # each ml - baseline comparison: (the last row's time, its PR-AUC difference)
    real_recommend = evaluation.recommend

    def spy(rows, *args, **kwargs):  # type: ignore[no-untyped-def]
        found = real_recommend(rows, *args, **kwargs)
        compared.append((float(rows.ts.max()), found["pr_auc_difference"]))
        return found

    # A forced retrain adds a version, decides before its test split and gives the same bytes: shown on
    # an hour of the source (10 s a training; the cached four hours took 32 s more here for the same proof).
    hour, own = load_dataset(None, synthetic_seconds=3600), Registry(tmp_path / "hour")
    before = train_model(hour, own)
    monkeypatch.setattr(evaluation, "recommend", spy)
    forced = train_model(hour, own, force=True)
    assert forced.identical_to is None and forced.version != before.version
    # The recommendation is made before the test split begins; the test split only reports.
    test_start = datetime.fromisoformat(forced.manifest["data"]["splits"]["test"]["start"]).timestamp()
    decided = forced.manifest["recommendation"]["pr_auc_difference"]
    assert [last < test_start for last, value in compared if value == decided] == [True]
    assert own.versions() == [before.version, forced.version]
    first, second = (own.load(v, ML) for v in (before.version, forced.version))
    assert first.sha256 == second.sha256  # the same data and seed give the same model, byte for byte
    # another seed makes another version: its fingerprint differs, so it is no twin
    assert training_fingerprint(dataset, seed=8) != result.manifest["training_fingerprint"]


def test_too_little_data_is_a_clear_error(shared_data: Path, tmp_path: Path) -> None:
    dataset = load_dataset([shared_data / "btcusd_2025-11-08_advtrade_ticker.ndjson"])  # 43 s of ticks
    with pytest.raises(NotEnoughData, match="at least"):
        train_model(dataset, Registry(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset([tmp_path / "nope"])


def test_fast_path_scores_equal_sklearn(trained_registry: Path, shared_data: Path) -> None:
    model = Registry(trained_registry).load(variant=ML)
    frame = load_dataset([shared_data / "btc_eth_2026-04-03_flat.ndjson"]).frame
    matrix = frame[list(FEATURES)].to_numpy()  # includes NaN (warm-up rows): imputed alike
    assert np.isnan(matrix).any()
    estimator = Registry(trained_registry).load_estimator(model.version)  # scikit-learn's own model, verified
    np.testing.assert_array_equal(model.score(matrix), estimator.predict_proba(matrix)[:, 1])


def test_baseline_rule_is_transparent(trained_registry: Path) -> None:
    model = Registry(trained_registry).load(variant=BASELINE)
    matrix = np.zeros((3, len(FEATURES)))
    column = FEATURES.index(model.feature)  # the strongest single feature on validation (issue 14)
    step = model.scale if model.direction == "high" else -model.scale
    matrix[:, column] = [model.threshold - step, model.threshold, model.threshold + step]
    scores = model.score(matrix)
    assert list(scores >= model.decision_threshold) == [False, True, True]
    np.testing.assert_allclose([model.score_row(row) for row in matrix.tolist()], scores, rtol=1e-15)


def test_tampered_model_file_is_refused(trained_registry: Path, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    shutil.copytree(trained_registry, root)
    registry = Registry(root)
    version = registry.latest()
    with (root / version / pipeline_file(ML)).open("ab") as handle:  # the pickle is never unpickled once changed
        handle.write(b"\x00")
    with pytest.raises(ModelIntegrityError, match="does not match the manifest"):
        registry.load_estimator(version)
    assert registry.load(version, ML).sha256 == registry.manifest(version)["variants"][ML]["sha256"]  # served: params
    manifest_path = root / version / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["variants"][BASELINE]["params"]["threshold"] = -99
    manifest["variants"][ML]["params"]["intercept"] += 1
    manifest_path.write_text(json.dumps(manifest))
    for variant in (BASELINE, ML):
        with pytest.raises(ModelIntegrityError, match="does not match the manifest"):
            registry.load(version, variant)


def test_single_row_path_matches_sklearn_on_real_rows(trained_registry: Path, shared_data: Path) -> None:
    """One-row requests (plain Python on the linear path, `predict_proba` of one row otherwise) score
    as the batch path does: equal within a few ulp, same labels. On 1,000 rows spread over a week of
    real ticks plus each feature's extremes: row by row through a tree model costs ~3 ms a row, so
    the whole week took 163 s alone and 20 min beside two CPU hogs."""
    model = Registry(trained_registry).load(variant=ML)
    frame = load_dataset([shared_data / WEEK]).frame
    complete = frame[list(FEATURES)].dropna().to_numpy()
    spread = np.linspace(0, len(complete) - 1, 1000).astype(int)
    extremes = np.concatenate([complete.argmin(axis=0), complete.argmax(axis=0)])
    matrix = complete[np.unique(np.concatenate([spread, extremes]))]
    expected = Registry(trained_registry).load_estimator(model.version).predict_proba(matrix)[:, 1]
    actual = np.array([model.score_row(row) for row in matrix.tolist()])
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-14)
    threshold = model.decision_threshold
    np.testing.assert_array_equal(actual >= threshold, expected >= threshold)


def test_extreme_rows_score_without_overflow(trained_registry: Path) -> None:
    for variant in (ML, BASELINE):
        model = Registry(trained_registry).load(variant=variant)
        for value in (-1e9, 1e9):
            score = model.score_row([value] * len(FEATURES))
            assert 0.0 <= score <= 1.0


def _rule_case(seed: int, rows: int = 4000):
    """Spikes follow a *low* value of range_bps_60s, and so do the volatile minutes; every other
    feature, persistence's included, is noise."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=list(FEATURES))
    frame["range_bps_60s"] = rng.uniform(0, 10, rows)
    spikes = (frame["range_bps_60s"] < 1.0).to_numpy().astype(int)
    frame["fwd_vol"] = np.where(spikes == 1, 3.0, 1.0) * rng.uniform(0.9, 1.1, rows)
    frame["ts"] = np.arange(rows) * 5.0
    frame["product"] = "BTC-USD"
    frame.loc[rng.choice(rows, 50), "range_bps_60s"] = np.nan  # missing values never fire the rule
    return frame, spikes


def test_a_rule_replaces_persistence_only_with_clear_evidence_and_a_lift() -> None:
    from volctl.core.model.rules import choose_baseline
    from volctl.core.model.training import rows_of

    frame, spikes = _rule_case(3)
    frame["session"] = "s"
    rule, selection = choose_baseline(frame, frame, spikes, rows_of(frame, spikes), "v")
    assert (rule.feature, rule.direction, rule.kind) == ("range_bps_60s", "low", "rule")
    assert 0.8 < rule.threshold < 1.2 and rule.describe().startswith("spike when range_bps_60s <= ")
    assert "leads persistence on validation" in selection["reason"]
    scores = rule.score(frame[list(FEATURES)].to_numpy())
    assert scores[frame["range_bps_60s"].isna().to_numpy()].max() == 0.0

    calm_after = frame.copy()  # the same rule, but on the training split its alerts come before calm minutes
    calm_after["fwd_vol"] = np.where(spikes == 1, 0.3, 1.0) * np.random.default_rng(4).uniform(0.9, 1.1, len(frame))
    rule, selection = choose_baseline(calm_after, frame, spikes, rows_of(frame, spikes), "v")
    assert rule.kind == "persistence" and rule.feature.startswith(("ret_std_", "vol_ratio_"))
    assert rule.describe().startswith("persistence: spike when ") and "range_bps_60s low" in selection["reason"]


def test_the_label_is_decided_by_the_future_on_the_real_test_split(trained_registry: Path) -> None:
    """Issue 23: a scorer that knows the next 60 s volatility ranks the spikes; the level alone does
    not (the label divided by the trailing 300 s had 1/ret_std_300s at 0.60 against 0.31)."""
    manifest = Registry(trained_registry).manifest(Registry(trained_registry).latest())
    properties = manifest["label"]["test_properties"]
    assert properties["future_pr_auc"] >= 0.8
    assert properties["level_pr_auc"] < 2 * properties["base_rate"] < properties["future_pr_auc"]
    assert manifest["label"]["level"]["seeds"]["BTC-USD"]["observed_s"] >= 1800  # seeded per product
    assert "ETH-USD" not in manifest["label"]["level"]["seeds"]  # 42 s of ETH in training: no seed


def test_the_forecast_beats_persistence_and_the_mean_and_no_spike_alert_beats_chance(trained_registry: Path) -> None:
    """What the held recordings support (issue 37): on the test split the next-minute volatility
    forecast loses less (QLIKE) than persistence and than the training mean, with intervals clear of
    zero, and its 95 % bound is exceeded on 2-8 % of minutes; no spike variant's PR-AUC is clear of
    the base rate (it once asserted a 1.5x alert lift, which the added recording took away)."""
    manifest = Registry(trained_registry).manifest(Registry(trained_registry).latest())
    forecast = manifest["forecast"]["test"]
    for against in ("persistence", "training_mean"):
        gain = forecast[f"qlike_gain_vs_{against}"]
        assert gain["interval"][0] > 0 and gain["verdict"] == "better", (against, gain)
        assert forecast[f"r2_log_vs_{against}"]["interval"][0] > 0, against
    assert 0.02 <= forecast["upper_bound"]["exceedance"] <= 0.08 and forecast["upper_bound"]["calibrated"]
    assert forecast["qlike"]["forecast"] < min(forecast["qlike"]["persistence"], forecast["qlike"]["training_mean"])
    assert manifest["forecast"]["selection"]["chosen_on"].startswith("validation")
    for variant in (ML, BASELINE):
        skill = manifest["variants"][variant]["metrics"]["skill"]
        assert skill["verdict"] == "no evidence of skill", (variant, skill)
        assert skill["sessions"] == len(skill["alert_rate_by_session"]) >= 1
        assert skill["within_session_lift"] == skill["within_session_lift"]  # measured, with its interval
    if manifest["recommended_variant"] == "baseline":
        assert manifest["variants"]["baseline"]["rule"].startswith("persistence: ")


def test_ml_is_chosen_and_calibrated_on_validation() -> None:
    """A constructed case: spikes follow a low value of one feature (rare, 10 %); the chosen model's
    calibrated mean score is within 0.05 of the validation base rate, and every model path (the
    linear fast path with and without the log step, predict_proba otherwise) scores like sklearn."""
    import pandas as pd

    from volctl.core.model.selection import candidates, choose_ml
    from volctl.domain.model import MlScorer

    rng = np.random.default_rng(5)
    rows = 6000
    frame = pd.DataFrame(np.abs(rng.normal(size=(rows, len(FEATURES)))), columns=list(FEATURES))
    frame["ret_std_300s"] = rng.lognormal(0, 1, rows)
    chance = 1 / (1 + np.exp(4 * (np.log(frame["ret_std_300s"]) + 1.3)))
    spikes = (rng.random(rows) < chance).to_numpy().astype(int)
    x = frame.to_numpy()
    train, validation = slice(0, 4000), slice(4000, rows)
    chosen = choose_ml(x[train], spikes[train], x[validation], spikes[validation])
    assert {c["name"] for c in chosen.candidates} == set(candidates(7))
    assert chosen.candidates[0]["validation_pr_auc"] >= chosen.candidates[-1]["validation_pr_auc"]
    scorer = MlScorer.of_estimator(chosen.estimator, "v", FEATURES, chosen.decision_threshold)
    assert abs(scorer.score(x[validation]).mean() - spikes[validation].mean()) < 0.05
    for _, estimator in candidates(7).values():
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator

        estimator.fit(x[train], spikes[train])
        calibrated = CalibratedClassifierCV(FrozenEstimator(estimator)).fit(x[validation], spikes[validation])
        model = MlScorer.of_estimator(calibrated, "v", FEATURES, 0.5)
        served = MlScorer.from_params(model.params(), "v", FEATURES, 0.5)  # what the manifest keeps
        assert model.params() is not None  # every candidate has the fast single-row path
        expected = calibrated.predict_proba(x[validation])[:, 1]
        np.testing.assert_allclose(model.score(x[validation]), expected, rtol=0, atol=1e-15)
        rows_scored = np.array([model.score_row(row) for row in x[validation][:200].tolist()])
        np.testing.assert_allclose(rows_scored, expected[:200], rtol=0, atol=1e-14)
        np.testing.assert_array_equal(served.score(x[validation]), model.score(x[validation]))


def test_every_variant_loads_without_scikit_learn_and_carries_its_forecast(trained_registry: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['sklearn'] = None; sys.modules['joblib'] = None; "
            "from volctl.domain.registry import Registry; "
            f"r = Registry({str(trained_registry)!r}); "
            "models = [r.load(variant=v) for v in ('baseline', 'ml')]; "
            "row = [1e-4] * len(models[0].features); "
            "print(models[0].describe()); "
            "print(*(0 <= m.score_row(row) <= 1 for m in models), *(m.forecaster.volatility_of_row(row, "
            "tuple(m.features.index(n) for n in ('vol_ratio_30s', 'vol_ratio_60s', 'vol_ratio_300s', "
            "'vol_level_60s', 'spread_bps'))) > 0 for m in models))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    described, scored = result.stdout.splitlines()
    assert described.startswith(("spike when ", "persistence: "))
    assert scored.split() == ["True"] * 4  # both variants scored a row and forecast its next minute


def test_auto_serves_the_recommended_variant_with_intervals_in_the_manifest(trained_registry: Path) -> None:
    registry = Registry(trained_registry)
    manifest = registry.manifest(registry.latest())
    recommendation = manifest["recommendation"]
    low = recommendation["pr_auc_difference_interval"][0]
    assert recommendation["decided_on"] == "validation"  # the test split only reports (test_comparison)
    assert manifest["recommended_variant"] == recommendation["variant"]
    if recommendation["variant"] == "ml":
        assert low > 0
    assert set(manifest["test_comparison"]) >= {"variant", "pr_auc_difference", "pr_auc_difference_interval"}
    for variant in ("ml", "baseline"):
        metrics = manifest["variants"][variant]["metrics"]
        lo, hi = metrics["pr_auc_interval"]
        assert lo <= metrics["pr_auc"] <= hi and metrics["episodes"] > 0 and 0 <= metrics["brier"] <= 1
        assert metrics["resampling"].endswith(("sessions", "5-minute blocks"))
    assert registry.load(variant="auto").variant == manifest["recommended_variant"]


def test_model_show_gives_metrics_with_intervals_the_recommendation_and_reliability(trained_registry: Path) -> None:
    from typer.testing import CliRunner

    from volctl.cli.app import app

    env = {"NO_COLOR": "1", "COLUMNS": "120", "VOLCTL_MODEL_REGISTRY_DIR": str(trained_registry)}
    shown = CliRunner().invoke(app, ["model", "show", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    for variant in ("ml", "baseline"):
        bins = document["variants"][variant]["metrics"]["reliability"]
        assert len(bins) == 10 and sum(b["rows"] for b in bins) == document["data"]["splits"]["test"]["rows"]
        assert [b["mean_score"] for b in bins] == sorted(b["mean_score"] for b in bins)
    text = CliRunner().invoke(app, ["model", "show"], env=env).output
    assert "recommended variant (decided on validation):" in text and "90 % interval" in text
    assert "reliability of ml" in text and "spike alerts against chance:" in text
    assert text.startswith("forecast: QLIKE")  # the answer first, and the forecast first in it
    assert f"spike alerts: serving {document['recommended_variant']}" in " ".join(text.split())
    answer = " ".join(text[:text.index("\nmodel ")].split())
    assert "ml - baseline PR-AUC" in answer and "alert lift" in answer and "decided by the future" in text
    listed = CliRunner().invoke(app, ["model", "list"], env=env).output
    if document["recommended_variant"] == "baseline":  # said plainly, not left to a table
        said = " ".join(listed.split())  # said once: the reason follows, never repeated (issue 25)
        assert "model.variant = auto serves baseline:" in said
        assert said.count("serving baseline") + said.count("does not") <= 2, said
    missing = CliRunner().invoke(app, ["model", "show", "no-such-version"], env=env)
    assert missing.exit_code == 3 and "not found" in missing.output
