"""What a variant's trainer (variants.Variant.fitter()) is given and gives back: every variant is fitted
on the same time splits, then evaluated, recommended and saved the same way by `training`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from volctl.core.model.evaluation import Rows

DRAFT = "draft"  # a fitted scorer's version until the registry names it


@dataclass(frozen=True)
class Fitting:
    split: Any  # training.Split: train, validation and test frames, in time order
    x: dict[str, np.ndarray]  # each split's feature matrix
    y: dict[str, np.ndarray]  # each split's labels
    validation: Rows  # what the validation split's intervals and alert lift are computed from
    seed: int
    say: Callable[[str], None]


@dataclass(frozen=True)
class Fitted:
    scorer: Any  # a domain.model scorer, version DRAFT
    entry: dict[str, Any]  # its manifest entry (training adds the test split's metrics and curves)
    pipeline: Any = None  # a fitted scikit-learn pipeline kept beside it (registry.pipeline_file)

