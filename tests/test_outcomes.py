"""Outcomes (issue 16, point 1): the streaming forward volatility equals the batch label's, tick for
tick, on real recordings; the consume processor joins every labelable prediction (served and shadow)
with its realised label; memory stays bounded when the horizon stalls."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest

from services.consume.processor import TickProcessor
from tests.test_consume_units import FakeRecord
from volctl.core.model.dataset import series_frame
from volctl.domain.features import FeatureEngine
from volctl.domain.labels import ForwardLabels, forward_volatility, label_rule_of
from volctl.domain.recordings import iter_series
from volctl.domain.registry import Registry

RECORDINGS = ("btc_eth_2026-04-03_flat.ndjson", "btcusd_2025-11-12_to_14_exchange_ticker.ndjson")
REPLAYED = ("btc_eth_2026-04-03_flat.ndjson", "btcusd_2026-04-04_advtrade_live_messages.ndjson",
            "btcusd_2025-12-01_advtrade_ticker_10min.ndjson")  # enough spike episodes to judge


@pytest.mark.parametrize("name", RECORDINGS)
def test_streaming_forward_volatility_equals_the_batch_label_tick_for_tick(shared_data: Path, name: str) -> None:
    ticks = list(iter_series(shared_data / name))
    nan = float("nan")
    bid = np.array([float(t.best_bid) if t.best_bid is not None else nan for t in ticks])
    ask = np.array([float(t.best_ask) if t.best_ask is not None else nan for t in ticks])
    batch = forward_volatility([t.product for t in ticks], np.array([t.ts for t in ticks]),
                               np.array([float(t.price) for t in ticks]), bid, ask)
    engine, labels = FeatureEngine(), ForwardLabels()
    streamed = np.full(len(ticks), nan)
    closed = np.zeros(len(ticks), dtype=bool)
    for i, tick in enumerate(ticks):
        engine.update(tick.product, tick.ts, float(tick.price), bid[i], ask[i])
        state = engine.products[tick.product]
        for index, fwd in labels.observe(tick.product, state.last_ts, state.last_ret, i):
            closed[index] = True
            streamed[index] = nan if fwd is None else fwd
    assert (~np.isnan(batch)).sum() > 2000
    # every tick closed while the stream ran has exactly the batch value (NaN where batch has none)
    np.testing.assert_allclose(streamed[closed], batch[closed], rtol=1e-12, atol=1e-18)
    assert np.isnan(batch[~closed]).all() or (~closed).sum() <= labels.pending  # the tail still waits


def test_waiting_ticks_are_bounded_when_the_horizon_stalls() -> None:
    labels = ForwardLabels(max_pending=100)
    for i in range(1000):  # a stuck clock: every tick at the same time, none closes a horizon
        labels.observe("BTC-USD", 1_700_000_000.0, 0.0 if i else None, i)
    assert labels.pending == 100 and labels.overflow == 900


def test_the_processor_joins_served_and_shadow_predictions_with_their_labels(shared_data: Path,
                                                                           trained_registry: Path) -> None:
    registry = Registry(trained_registry)
    version = registry.latest()
    ml, baseline = registry.load(version, "ml"), registry.load(version, "baseline")
    rule = label_rule_of(registry.manifest(version))
    threshold = rule.threshold
    path = shared_data / RECORDINGS[0]
    ticks = list(iter_series(path))
    processor = TickProcessor(ml, clock=lambda: ticks[-1].ts)
    processor.install(ml, [baseline], rule)
    records = [FakeRecord(orjson.dumps(t.to_wire()), offset) for offset, t in enumerate(ticks)]
    documents = []
    for start in range(0, len(records), 500):
        batch = processor.process(records[start:start + 500])
        assert all(orjson.loads(value) in batch.outcome_documents for _, value in batch.outcomes[:3])
        documents += batch.outcome_documents
    expected = series_frame(path.name, ticks, rule.seeds)  # the features and label the version's seeds give
    labelled = expected["target"].notna().to_numpy()
    by_offset = {d["source"]["offset"]: d for d in documents}
    assert len(by_offset) == len(documents) >= labelled.sum() - 400  # all but the last minute's ticks
    for offset, document in by_offset.items():
        assert labelled[offset], offset  # never a tick the batch leaves unlabelled (warm-up, no quote)
        assert math.isclose(document["target"], expected["target"].iloc[offset], rel_tol=1e-9)
        assert math.isclose(document["future_vol"], expected["fwd_vol"].iloc[offset], rel_tol=1e-9, abs_tol=1e-15)
        assert math.isclose(document["level"], expected["vol_level_60s"].iloc[offset], rel_tol=1e-9)
        assert document["label"] == int(expected["target"].iloc[offset] > threshold)
        assert set(document["scores"]) == {"ml", "baseline"} and document["served"] == "ml"
    kinds = sum(batch.outcome_kinds.values())  # the last batch alone: every variant counted once per outcome
    assert kinds == 2 * len(batch.outcome_documents)
    # The live alert lift's input: each variant's alert (or silence) with the next minute's volatility.
    moves = {(variant, d["source"]["offset"]): (alerted, vol) for (variant, alerted, vol), d in zip(
        batch.outcome_moves, [d for d in batch.outcome_documents for _ in range(2)], strict=True)}
    for (variant, offset), (alerted, volatility) in moves.items():
        assert alerted == by_offset[offset]["labels"][variant] and volatility == by_offset[offset]["future_vol"]


def _outcomes_of_a_replay(shared_data: Path, trained_registry: Path, names: tuple[str, ...] = REPLAYED) -> list[dict]:
    registry = Registry(trained_registry)
    version = registry.latest()
    served, shadow = registry.load(version, "ml"), registry.load(version, "baseline")
    documents = []
    for name in names:
        ticks = list(iter_series(shared_data / name))
        processor = TickProcessor(served, clock=lambda ticks=ticks: ticks[-1].ts)
        processor.install(served, [shadow], label_rule_of(registry.manifest(version)))
        records = [FakeRecord(orjson.dumps(t.to_wire()), offset, topic=name) for offset, t in enumerate(ticks)]
        for start in range(0, len(records), 1000):
            documents += processor.process(records[start:start + 1000]).outcome_documents
    return documents


def test_volctl_quality_judges_the_served_model_against_its_shadow(tmp_path: Path, shared_data: Path,
                                                                 trained_registry: Path) -> None:
    import json

    from typer.testing import CliRunner

    from volctl.cli.app import app
    from volctl.domain.feature_log import JsonLinesLog
    from volctl.domain.outcomes import OUTCOMES_PREFIX, outcomes_folder

    documents = _outcomes_of_a_replay(shared_data, trained_registry)
    real = CliRunner().invoke(app, ["quality", "--window", "365d", "--json"],
                              env={"VOLCTL_STATE_DIR": str(_logged(tmp_path / "real", documents)), "NO_COLOR": "1"})
    assert real.exit_code in (0, 1), real.output
    for row in json.loads(real.stdout)["variants"]:  # the real scores, against chance: as the interval says
        low, high = row["skill"]["interval"]
        assert row["skill"]["verdict"] == ("skill" if low > 0 else "worse than chance" if high < 0
                                           else "no evidence of skill"), row["skill"]

    # The comparison itself, on scores that carry evidence: the served ml is made to know the label
    # (the real scores have no skill on these recordings: test_training), beside it upside down.
    for document in documents:
        document["scores"]["ml"] = float(document["label"])
        document["labels"]["ml"] = document["label"]
        document["scores"]["inverted"] = 1 - document["scores"]["ml"]
        document["labels"]["inverted"] = 1 - document["labels"]["ml"]
    _logged(tmp_path, documents, again=500)  # at-least-once: a restart delivered 500 again

    def run(*args: str):
        return CliRunner().invoke(app, ["quality", "--window", "365d", *args],
                                  env={"VOLCTL_STATE_DIR": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "150"})

    result = run("--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["duplicates"] == 500 and report["outcomes"] == len(documents) and report["served"] == "ml"
    verdicts = {c["challenger"]: c["verdict"] for c in report["comparisons"]}
    assert verdicts["inverted"] == "better"  # the served model beats the bad challenger
    for row in report["variants"]:
        low, high = row["pr_auc_interval"]
        assert low <= row["pr_auc"] <= high and row["labelled"] == len(documents)
    assert report["variants"][0]["skill"]["verdict"] == "skill"  # knowing the label is skill

    for document in documents:  # now the bad one is served
        document["served"] = "inverted"
    log = JsonLinesLog(outcomes_folder(tmp_path / "bad"), OUTCOMES_PREFIX)
    log.write(documents)
    log.close()
    bad = CliRunner().invoke(app, ["quality", "--window", "365d"],
                             env={"VOLCTL_STATE_DIR": str(tmp_path / "bad"), "NO_COLOR": "1", "COLUMNS": "150"})
    assert bad.exit_code == 1, bad.output
    assert "is worse" in bad.output and "volctl rollback --to ml" in bad.output.replace("\n", " ")
    # The same ticks judged beside the version that served them: they lie in its training period,
    # so the report says so and recommends nothing (they taught the model; they judge nothing).
    version = Registry(trained_registry).latest()
    for document in documents:
        document["version"] = version
    _logged(tmp_path / "seen", documents)
    seen = CliRunner().invoke(app, ["quality", "--window", "365d", "--json"], env={
        "VOLCTL_STATE_DIR": str(tmp_path / "seen"), "VOLCTL_MODEL_REGISTRY_DIR": str(trained_registry)})
    report = json.loads(seen.stdout)
    assert "split" in report["inside_training"] and "no recommendation" in report["inside_training"]
    assert report["rollback"] == "" and report["better"] == ""

    page = tmp_path / "quality.html"
    floor = CliRunner().invoke(app, ["quality", "--window", "365d", "--html", str(page)],  # the real scores
                               env={"VOLCTL_STATE_DIR": str(tmp_path / "real"), "VOLCTL_SLO_MIN_RECALL": "0.999",
                                    "NO_COLOR": "1", "COLUMNS": "150"})
    assert floor.exit_code == 1 and "below its quality objective: recall" in floor.output  # a floor: exit 1
    assert "ml (served)" in page.read_text() and page.read_text().count('<figure class="chart">') == 1  # PR-AUC
    assert f"HTML report written to {page}" in floor.stderr  # where the page went (it said nothing)
    few = CliRunner().invoke(app, ["quality", "--window", "1m"],
                             env={"VOLCTL_STATE_DIR": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "150"})
    # inconclusive, with what it lacked in numbers and a next step that exists (test_next_steps)
    text = " ".join(few.output.split())
    assert few.exit_code == 3 and "inconclusive: too little evidence in 1m: 149 of 200 labelled ticks" in text, text
    assert "0 of 3 spike episodes" in text and "next: let the stream run" in text


def _logged(state_dir: Path, documents: list[dict], again: int = 0) -> Path:
    """`documents` in a state dir's outcomes log (the first `again` of them twice)."""
    from volctl.domain.feature_log import JsonLinesLog
    from volctl.domain.outcomes import OUTCOMES_PREFIX, outcomes_folder

    log = JsonLinesLog(outcomes_folder(state_dir), OUTCOMES_PREFIX, rows_per_file=2000)
    log.write(documents)
    log.write(documents[:again])
    log.close()
    return state_dir


def test_the_guard_never_flaps_and_cannot_measure_is_not_a_failure(tmp_path: Path, shared_data: Path,
                                                                  trained_registry: Path) -> None:
    from volctl.core.operations.guard import GuardPolicy, GuardState, evaluate
    from volctl.domain.feature_log import JsonLinesLog
    from volctl.domain.outcomes import OUTCOMES_PREFIX, outcomes_folder
    from volctl.domain.settings import load_settings

    settings = load_settings(None, env={"VOLCTL_STATE_DIR": str(tmp_path)})
    policy = GuardPolicy(window="365d", failure_limit=1, dwell_s=600)
    nothing = evaluate(settings, GuardState(failures=2), policy, {}, None, None, "token", now=lambda: 1e9)
    assert nothing.verdict == "inconclusive" and nothing.failures == 2 and nothing.action == "none"

    documents = _outcomes_of_a_replay(shared_data, trained_registry)
    for document in documents:  # a shadow baseline that knows the label: the served ml is clearly worse
        document["scores"]["baseline"] = float(document["label"])
        document["labels"]["baseline"] = document["label"]
    log = JsonLinesLog(outcomes_folder(tmp_path), OUTCOMES_PREFIX)
    log.write(documents)
    log.close()
    state = GuardState(last_switch_at=1e9 - 60)  # switched a minute ago
    waiting = evaluate(settings, state, policy, {}, None, None, "token", now=lambda: 1e9)
    assert waiting.verdict == "fail" and waiting.target == "baseline" and waiting.action == "waiting (dwell)"
    dry = evaluate(settings, GuardState(), GuardPolicy("365d", 1, 600, dry_run=True), {}, None, None, "t")
    assert dry.action == "would roll back" and "--to baseline" in dry.detail
