"""Streams made on purpose for a drift report: `--perturb` and `--synthetic-seed` (the demo's drift
step shows both answers with them; the verdicts themselves run in test_demo and test_drift_calibration)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_drift import APR_3
from volctl.cli.app import app
from volctl.core.model.drift_streams import prepared_current
from volctl.domain.errors import ConfigError
from volctl.domain.perturb import Perturbation
from volctl.domain.recordings import iter_series


def test_a_perturbation_is_read_from_its_spec_and_says_what_it_does() -> None:
    assert Perturbation.parse("spread=5,thin=4") == Perturbation(5.0, 4, 1.0)
    assert str(Perturbation.parse("spread=5, thin=2, vol=3")) == ("spreads 5x wider, every 2nd tick kept, "
                                                                 "a walk 3x as volatile")
    for bad, why in (("x=1", "unknown perturbation 'x'"), ("thin=2.5", "whole number"), ("spread=0.5", ">= 1"),
                     ("spread=a", "not a number"), ("", "no perturbation"), ("vol=inf", ">= 1")):
        with pytest.raises(ValueError, match=why):
            Perturbation.parse(bad)


def test_a_real_recording_perturbed_keeps_a_quarter_of_the_ticks_with_spreads_five_times_wider(
        shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / APR_3
    path, what = prepared_current(source, None, Perturbation(5.0, 4), tmp_path, "UTC")
    assert path == tmp_path / "current.ndjson" and what == f"{source}, perturbed on purpose: spreads 5x wider, " \
                                                           "every 4th tick kept"
    before, after = list(iter_series(source)), list(iter_series(path))
    assert len(after) == pytest.approx(len(before) / 4, abs=3)
    first = next(t for t in after if t.best_bid is not None)
    original = next(t for t in before if t.ts == first.ts and t.product == first.product)
    assert float(first.best_ask) - float(first.best_bid) == pytest.approx(
        5 * (float(original.best_ask) - float(original.best_bid)), rel=1e-6)


def test_a_synthetic_stream_of_another_seed_is_written_beside_the_report(tmp_path: Path) -> None:
    path, what = prepared_current(None, 8, None, tmp_path, "UTC")
    assert "seed 8" in what and path is not None and sum(1 for _ in iter_series(path)) > 1000
    assert prepared_current(tmp_path / "x", None, None, tmp_path, "UTC") == (tmp_path / "x", "")
    with pytest.raises(ConfigError, match="both"):
        prepared_current(tmp_path / "x", 8, None, tmp_path, "UTC")
    with pytest.raises(ConfigError, match="none was named"):
        prepared_current(None, None, Perturbation(2.0), tmp_path, "UTC")


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--perturb", "wider=5"], 2, "unknown perturbation"),
    (["--perturb", "spread=5"], 3, "none was named"),
    (["--synthetic-seed", "8", "--current", "x.ndjson"], 3, "both name the current stream"),
])
def test_bad_drift_stream_options_are_clear_errors(tmp_path: Path, args: list[str], code: int, says: str) -> None:
    result = CliRunner().invoke(app, ["drift", "report", *args], env={"VOLCTL_STATE_DIR": str(tmp_path),
                                                                      "NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == code, result.output
    assert says in result.output


def test_the_table_reads_from_what_moved_most() -> None:
    """Issue 40: the drift tables were sorted alphabetically, not by score over threshold."""
    from volctl.core.model.drift import FeatureDrift, by_severity

    features = [FeatureDrift("a_calm", score=0.01, threshold=0.1), FeatureDrift("b_untested", note="no quotes"),
                FeatureDrift("c_moved", score=0.3, threshold=0.2, drifted=True),
                FeatureDrift("d_near", score=0.09, threshold=0.1),
                FeatureDrift("e_moved_most", score=0.9, threshold=0.1, drifted=True)]
    assert [f.name for f in by_severity(features)] == ["e_moved_most", "c_moved", "d_near", "a_calm", "b_untested"]
