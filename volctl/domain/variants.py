"""The model variants, declared once: each has a name, how a sentence names it, the class that
loads it from its manifest entry, the function that trains it, and whether it is the reference
(the rule every other variant must beat, served when none clearly does). Importable without
numpy: the CLI and the services check names before they load anything.

Everything else asks this module: the CLI's and the services' choices, the config rule, which
variants a version scores in shadow, what a fast burn rolls back to, and which variants the
recommendation compares with the reference."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variant:
    name: str
    title: str  # how a sentence names it: "ml leads the baseline rule by ..."
    loader: str  # "module:Class" whose from_entry() loads it (imported only when a model is loaded)
    trainer: str  # "module:function" that fits it on the training splits (core.model.fitting)
    reference: bool = False  # the rule the others must beat; served when none clearly does

    def scorer_class(self) -> Any:
        return _imported(self.loader)

    def fitter(self) -> Any:
        """Its trainer: (core.model.fitting.Fitting) -> Fitted."""
        return _imported(self.trainer)


def _imported(path: str) -> Any:
    """What a "module:name" names, imported only now (numpy, scikit-learn: never at the CLI's start)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


CATALOGUE: tuple[Variant, ...] = (
    Variant("baseline", "the baseline rule", "volctl.domain.model:BaselineScorer",
            "volctl.core.model.rules:fit_baseline", reference=True),
    Variant("ml", "the classifier", "volctl.domain.model:MlScorer", "volctl.core.model.selection:fit_ml"),
)

VARIANTS = tuple(v.name for v in CATALOGUE)
REFERENCE = next(v.name for v in CATALOGUE if v.reference)
CANDIDATES = tuple(v.name for v in CATALOGUE if not v.reference)  # each compared with the reference
LEAD = CANDIDATES[0]  # the variant meant where none is named (a version trained before recommendations)
AUTO = "auto"  # the registry version's recommended variant
CHOICES = (*VARIANTS, AUTO)  # what model.variant, --variant and rollback --to take
BASELINE, ML = REFERENCE, LEAD  # the names the model's code reads them by


def variant(name: str) -> Variant:
    found = next((v for v in CATALOGUE if v.name == name), None)
    if found is None:
        raise KeyError(f"unknown model variant {name!r}: one of {', '.join(VARIANTS)}")
    return found


def challengers(served: str, present: Any) -> list[str]:
    """The variants scored in shadow beside `served`: every other one its version holds (`present`),
    candidates first."""
    return [name for name in (*CANDIDATES, REFERENCE) if name != served and name in present]


def fallback(served: str) -> str:
    """What a fast burn rolls back to: the reference when a candidate of this version is served
    ("" when the reference already is, or the served model is another version's)."""
    return REFERENCE if served in CANDIDATES else ""


def compared(recommendation: dict[str, Any], minus: str = "-") -> str:
    """Which comparison a recommendation's figures are, "ml - baseline": with several candidates,
    the one whose comparison it repeats (the recommendation chose it); with one, that one."""
    comparisons, reason = recommendation.get("comparisons") or {}, recommendation.get("reason")
    candidate = next((name for name, found in comparisons.items() if found.get("reason") == reason), LEAD)
    return f"{candidate} {minus} {REFERENCE}"


def model_name(variant: str, version: str, served_version: str) -> str:
    """How a model is named beside the served one: its variant for the served version's variants,
    `variant@version` for another version's (a challenger added with `volctl shadow add`)."""
    return variant if version == served_version else f"{variant}@{version}"


def rollback_target(name: str) -> str:
    """What `volctl rollback --to` takes for a model name: `ml`, or `VERSION:VARIANT` for `ml@VERSION`."""
    variant, _, version = name.partition("@")
    return f"{version}:{variant}" if version else variant


def split_target(text: str) -> tuple[str, str | None]:
    """`VERSION[:VARIANT]` -> (version, variant or None)."""
    version, _, variant = text.partition(":")
    return version, variant or None
