"""The current side of a drift report made on purpose: another seed of the synthetic source (a
stream the model did not train on), or a stream with its microstructure changed (`--perturb
spread=5,thin=4`). Written as a recording in the report's folder, so what was judged is kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from volctl.domain.errors import ConfigError
from volctl.domain.perturb import Perturbation, write_recording
from volctl.domain.recordings import RecordingError, discover_series, iter_series
from volctl.domain.synthetic import synthetic_ticks
from volctl.domain.ticks import Tick

# 45 min: the report then uses the 5-minute calibration (29 reference chunks of the synthetic training
# split); 2 h matched the 1-hour calibration, which has only 3 chunks there.
SYNTHETIC_SECONDS = 45 * 60.0


def prepared_current(current: Path | None, synthetic_seed: int | None, perturbation: Perturbation | None,
                     folder: Path, naive_tz: str) -> tuple[Path | None, str]:
    """(the file the report reads as its current side, what it holds); `current` and "" unchanged
    when nothing was asked for."""
    if synthetic_seed is None and perturbation is None:
        return current, ""
    if synthetic_seed is not None and current is not None:
        raise ConfigError("--current and --synthetic-seed both name the current stream", hint="pass one of them")
    if synthetic_seed is not None:
        ticks: Iterator[Tick] = synthetic_ticks(seed=synthetic_seed, duration_s=SYNTHETIC_SECONDS)
        what = f"{SYNTHETIC_SECONDS / 3600:g} h of the synthetic source, seed {synthetic_seed}"
    elif current is not None:
        ticks = _recorded(current, naive_tz)
        what = str(current)
    else:
        raise ConfigError("--perturb changes a stream: none was named",
                          hint="pass --current FILE (a recording) or --synthetic-seed N")
    if perturbation is not None:
        ticks = perturbation.apply(ticks)
        what += f", perturbed on purpose: {perturbation}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "current.ndjson"
    try:
        count = write_recording(path, ticks)
    except RecordingError as exc:
        raise ConfigError(f"{current}: {exc}", hint="--perturb needs a recording of ticks, not feature rows") from exc
    if not count:
        raise ConfigError(f"{current} gave no tick to change", hint="--perturb needs a recording of ticks")
    return path, what


def _recorded(path: Path, naive_tz: str) -> Iterator[Tick]:
    for series in discover_series(path):
        yield from iter_series(series, naive_tz)
