"""The variants are declared once (`volctl/domain/variants.py`): a third one added there is loaded by
its own class, scored in shadow beside the served one, compared with the reference by the
recommendation, accepted by the config and rolled back from by the guard, with no other change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from volctl.domain import variants
from volctl.domain.features import FEATURES
from volctl.domain.registry import MANIFEST, Registry, canonical_sha256

THIRD = variants.Variant("momentum", "the momentum rule", "volctl.domain.model:BaselineScorer",
                         "volctl.core.model.rules:fit_baseline")


@pytest.fixture
def three(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    catalogue = (*variants.CATALOGUE, THIRD)
    monkeypatch.setattr(variants, "CATALOGUE", catalogue)
    monkeypatch.setattr(variants, "VARIANTS", tuple(v.name for v in catalogue))
    monkeypatch.setattr(variants, "CANDIDATES", tuple(v.name for v in catalogue if not v.reference))
    monkeypatch.setattr(variants, "CHOICES", (*variants.VARIANTS, variants.AUTO))
    return variants.VARIANTS


def _registry(root: Path) -> Registry:
    """One version holding the three variants (two rules and a linear model), as training writes it."""
    n = len(FEATURES)
    rule = {"feature": "ret_std_60s", "direction": "high", "threshold": 1.0, "scale": 1.0, "kind": "rule"}
    linear = {"log_columns": [], "medians": [0.0] * n, "mean": [0.0] * n, "scale": [1.0] * n,
              "coef": [0.01] * n, "intercept": 0.0, "platt": None}
    entries = {variants.REFERENCE: {"params": rule, "decision_threshold": 0.5},
               variants.LEAD: {"params": linear, "decision_threshold": 0.5},
               THIRD.name: {"params": {**rule, "feature": "ret_mean_60s"}, "decision_threshold": 0.5}}
    for entry in entries.values():
        entry["sha256"] = canonical_sha256(entry["params"])
    (root / "v1").mkdir(parents=True)
    (root / "v1" / MANIFEST).write_text(json.dumps({"version": "v1", "features": list(FEATURES), "variants": entries}))
    return Registry(root)


def test_a_third_variant_is_loaded_scored_in_shadow_accepted_and_rolled_back_from(
        three: tuple[str, ...], tmp_path: Path) -> None:
    from volctl.domain.outcomes import challengers_of
    from volctl.domain.settings import load_settings

    registry = _registry(tmp_path / "registry")
    third = registry.load("v1", THIRD.name)
    assert (third.variant, type(third).__name__) == (THIRD.name, "BaselineScorer")
    served = registry.load("v1", variants.LEAD)
    shadow, _ = challengers_of(registry, served)
    assert [s.variant for s in shadow] == [THIRD.name, variants.REFERENCE]  # every other variant of its version
    shadow, _ = challengers_of(registry, third)
    assert [s.variant for s in shadow] == [variants.LEAD, variants.REFERENCE]
    assert load_settings(env={"VOLCTL_MODEL_VARIANT": THIRD.name}).model.variant == THIRD.name
    assert variants.fallback(THIRD.name) == variants.REFERENCE and variants.fallback(variants.REFERENCE) == ""


def test_the_recommendation_compares_every_candidate_with_the_reference(three: tuple[str, ...]) -> None:
    from tests.test_evaluation import _case, _rows
    from volctl.core.model.evaluation import recommendation

    y, noise, ts = _case(200, seed=1)
    scores = {variants.REFERENCE: noise[::-1].copy(), variants.LEAD: noise, THIRD.name: y + 0.5 * noise}
    found = recommendation(_rows(y, ts), scores, {})
    assert found is not None and found["variant"] == THIRD.name
    assert found["reason"].startswith(f"{THIRD.name} leads the baseline rule by ")
    assert set(found["comparisons"]) == {variants.LEAD, THIRD.name}
    assert found["comparisons"][variants.LEAD]["variant"] == variants.REFERENCE  # no clear lead: not served
    assert variants.compared(found) == f"{THIRD.name} - baseline"  # what the pages print the figures as
    scores[THIRD.name] = noise[::2].repeat(2)[: len(y)]
    assert recommendation(_rows(y, ts), scores, {})["variant"] == variants.REFERENCE  # none clear: the reference


def test_two_variants_keep_the_recommendation_as_it_was() -> None:
    """With the shipped two, the manifest's recommendation has no per-candidate breakdown (the
    same document as before the registry)."""
    from tests.test_evaluation import _case, _rows
    from volctl.core.model.evaluation import recommendation

    y, noise, ts = _case(200, seed=1)
    found = recommendation(_rows(y, ts), {variants.REFERENCE: noise, variants.LEAD: y + 0.5 * noise}, {})
    assert found is not None and found["variant"] == variants.LEAD and "comparisons" not in found
    assert found["reason"].startswith("ml leads the baseline rule by ")
    assert np.isfinite(found["pr_auc_difference"])


@pytest.mark.integration
def test_training_fits_saves_and_evaluates_every_declared_variant(three: tuple[str, ...], tmp_path: Path) -> None:
    """A third variant declared with its trainer is fitted on the same splits, saved, scored on the
    test split and compared with the reference; the registry loads it back by its own class."""
    import pandas as pd

    from volctl.core.model.dataset import load_dataset
    from volctl.core.model.drift_calibration import TEST_SCORES_KEY
    from volctl.core.model.training import train_model
    from volctl.domain.registry import Registry

    registry = Registry(tmp_path)
    result = train_model(load_dataset(None, synthetic_seconds=3600), registry)
    manifest = result.manifest
    assert set(manifest["variants"]) == set(three)
    assert set(manifest["recommendation"]["comparisons"]) == set(variants.CANDIDATES)
    assert manifest["variants"][THIRD.name]["metrics"]["pr_auc"] == manifest["variants"][THIRD.name]["metrics"][
        "pr_auc"]  # a number, not NaN
    scores = pd.read_parquet(registry.attached(result.version, TEST_SCORES_KEY))
    assert set(scores.columns) == {"ts", *three}
    assert registry.load(result.version, THIRD.name).variant == THIRD.name
