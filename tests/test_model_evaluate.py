"""`volctl model evaluate` scores recordings a version never saw; `model show --html` draws its curves
(issue 14, point 4). The version here is trained on one week of BTC only, so later recordings are out
of time."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import WEEK
from volctl.cli.app import app

LATER = ("btc_eth_2026-04-03_flat.ndjson", "btc_eth_2026-04-04_flat_with_sizes.ndjson")


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON: jq and most parsers refuse the whole document")


def _run(registry: Path, *args: str):
    env = {"NO_COLOR": "1", "COLUMNS": "80", "VOLCTL_MODEL_REGISTRY_DIR": str(registry)}
    return CliRunner().invoke(app, ["model", *args], env=env)


def test_later_recordings_are_scored_with_every_variant_per_file_and_pooled(
        week_registry: Path, shared_data: Path, tmp_path: Path) -> None:
    data = [arg for name in LATER for arg in ("--data", str(shared_data / name))]
    page = tmp_path / "evaluate.html"
    result = _run(week_registry, "evaluate", *data, "--json", "--html", str(page))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout, parse_constant=_not_json)
    assert [part["name"] for part in document["parts"]] == list(LATER)
    assert not any(part["overlaps_training"] for part in document["parts"])
    pooled = document["pooled"]
    assert pooled["labelled"] == sum(part["labelled"] for part in document["parts"]) > 0
    for part in (*document["parts"], pooled):
        assert set(part["metrics"]) == {"ml", "baseline"} and set(part["lifts"]) == {"ml", "baseline"}
        for metrics in part["metrics"].values():
            low, high = metrics["pr_auc_interval"]
            assert metrics["rows"] == part["labelled"] and metrics["episodes"] == part["episodes"]
            if part["episodes"] < 3:  # a file with one or two episodes: no interval, and it says why
                assert metrics["interval_note"] == f"too few episodes: {part['episodes']} of 3"
                assert low is None and high is None  # null, not NaN: strict JSON
            else:
                assert low <= metrics["pr_auc"] <= high and not metrics["interval_note"]
            assert metrics["brier_worse_than_constant"] == (metrics["brier"] > metrics["brier_constant"])
            assert "median_ratio" in metrics["alert_lift"] and "decile_lift" in metrics["alert_lift"]
    assert pooled["recommendation"]["variant"] in ("ml", "baseline")
    assert document["answer"].startswith("scored out of time, forecast: QLIKE ")  # the forecast first
    assert "spike alerts: serving " in document["answer"]
    assert pooled["forecast"]["rows"] > 0 and "qlike_gain_vs_persistence" in pooled["forecast"]

    text = _run(week_registry, "evaluate", *data).stdout  # progress goes to stderr
    assert text.startswith("scored out of time, forecast: QLIKE ")  # the answer first
    assert "90 % interval" in text and "ml − baseline PR-AUC" in text and "alert lift" in text
    html = page.read_text()
    assert _charts(html) == ["precision-recall", "ml: reliability", "baseline: reliability"], _charts(html)
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html  # opens offline


def test_a_recording_inside_the_training_period_is_flagged(week_registry: Path, shared_data: Path) -> None:
    inside = shared_data / WEEK / "ticks_BTCUSD_20251205_203300.ndjson"  # in the train split
    document = json.loads(_run(week_registry, "evaluate", "--data", str(inside), "--json").stdout)
    assert document["parts"][0]["overlaps_training"] is True


def test_the_versions_own_test_split_is_left_out_and_said(week_registry: Path, shared_data: Path) -> None:
    """Issue 37: the test split stays untouched; `model show` reports it, evaluate never scores it again."""
    last = shared_data / WEEK / "ticks_BTCUSD_20251206_071146.ndjson"  # the week's last run: its test split
    result = _run(week_registry, "evaluate", "--data", str(last), "--json")
    document = json.loads(result.stdout)
    assert document["left_out_test"] > 1000 and result.exit_code == 3  # nothing else left to score
    shown = _run(week_registry, "evaluate", "--data", str(last)).output
    assert "inside the version's own test split" in " ".join(shown.split())


def test_nothing_labelled_is_exit_3_with_the_counts(week_registry: Path, shared_data: Path) -> None:
    result = _run(week_registry, "evaluate", "--data", str(shared_data / "btcusd_2025-11-08_advtrade_ticker.ndjson"))
    assert result.exit_code == 3, result.output
    assert "cannot evaluate" in result.output and "warm-up" in result.output
    assert _run(week_registry, "evaluate").exit_code == 3  # no --data: says what to give


def test_model_show_html_draws_both_variants(week_registry: Path, tmp_path: Path) -> None:
    page = tmp_path / "show.html"
    result = _run(week_registry, "show", "--html", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert _charts(html).count("precision-recall") == 1  # one chart, every variant's curve over the base rate
    for variant in ("ml", "baseline"):
        assert f"{variant}: reliability" in html
    assert "base rate" in html and 'class="answer"' in html and "alert lift" in html
    assert html.index("train: ") < html.index("validation: ") < html.index("test: ")  # in time order
    points = [float(v) for pair in re.findall(r'points="([^"]+)"', html) for xy in pair.split() for v in xy.split(",")]
    assert points and all(0 <= v <= 420 for v in points)  # every point inside the widest (420 x 340) drawing
    steps = [pair.split() for pair in re.findall(r'class="data"[^>]*points="([^"]+)"', html)
             + re.findall(r'points="([^"]+)"[^>]*class="data"', html)]
    corners = [[tuple(map(float, xy.split(","))) for xy in line] for line in steps if len(line) > 4]
    # precision-recall curves are steps: every segment is horizontal or vertical
    assert any(all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(line)) for line in corners)


def _wrapped(source: Path, target: Path) -> Path:
    """A recording whose lines wrap live Advanced Trade messages, as a later recorder writes them."""
    with source.open() as lines, target.open("w") as out:
        for line in lines:
            message = json.loads(line)
            out.write(json.dumps({"ingest_time": message["timestamp"], "product_id": "BTC-USD",
                                  "payload": message}) + "\n")
    return target


def test_a_wrapped_recording_is_read_with_the_payloads_time(week_registry: Path, shared_data: Path,
                                                             tmp_path: Path) -> None:
    live = shared_data / "btcusd_2026-04-04_advtrade_live_messages.ndjson"
    wrapped = _wrapped(live, tmp_path / "btcusd_wrapped.ndjson")
    plain = json.loads(_run(week_registry, "evaluate", "--data", str(live), "--json").stdout)
    result = _run(week_registry, "evaluate", "--data", str(wrapped), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["bad_lines"] == {} and document["pooled"]["labelled"] == plain["pooled"]["labelled"] > 0
    assert document["pooled"]["start"] == plain["pooled"]["start"]


def test_a_file_that_gives_no_tick_is_exit_3_and_named(week_registry: Path, shared_data: Path,
                                                        tmp_path: Path) -> None:
    junk = tmp_path / "btcusd_junk.ndjson"
    junk.write_text('{"product_id": "BTC-USD", "note": "no price, no time"}\nnot json\n')
    alone = _run(week_registry, "evaluate", "--data", str(junk))
    assert alone.exit_code == 3 and "Traceback" not in alone.output, alone.output
    assert "btcusd_junk.ndjson" in alone.output and "bad_json x1" in alone.output
    later = shared_data / LATER[0]
    pooled = _run(week_registry, "evaluate", "--data", str(later), "--data", str(junk))
    assert pooled.exit_code == 0, pooled.output
    assert "btcusd_junk.ndjson gave no rows" in pooled.output.replace("\n", " ")
    train = CliRunner().invoke(app, ["model", "train", "--data", str(junk)],
                               env={"NO_COLOR": "1", "VOLCTL_MODEL_REGISTRY_DIR": str(tmp_path / "r")})
    assert train.exit_code == 3 and "Traceback" not in train.output


def _charts(html: str) -> list[str]:
    """The titles of a page's charts, one each (a chart's phone-width twin is in the same figure)."""
    import re

    return re.findall(r'<figure class="chart">\s*<svg[^>]*aria-label="([^"]+)"', html)
