"""What a drift report compares: the reference (the training split stored beside the served
version, or a file) and the current rows (the newest window of the consume service's feature log,
or a file: feature rows, or a recording turned into features by the one feature module)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volctl.domain.errors import ConfigError, VolctlError
from volctl.domain.features import FEATURES
from volctl.domain.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from volctl.domain.level import Seeds


@dataclass
class Rows:
    frame: pd.DataFrame
    source: str  # what the rows are, for people: "reference of model X", "feature log, last 1h", a path


def span_of(rows: Rows) -> float | None:
    """The event time the rows cover (None: no timestamps)."""
    if "ts" in rows.frame and len(rows.frame):
        return float(rows.frame["ts"].max() - rows.frame["ts"].min())
    return None


def served_model(settings: Settings) -> dict[str, Any]:
    """{version, variant, decision_threshold} the predict service serves (else the configured
    version and variant, "auto" resolved through the manifest): the reference and calibration follow it."""
    from volctl.clients.http import get_json
    from volctl.domain.registry import Registry
    from volctl.domain.variants import AUTO, LEAD

    served = get_json("predict", settings.predict.url, "/version", timeout_s=1) or {}
    if served.get("version"):
        return {"version": served["version"], "variant": served.get("model", LEAD),
                "decision_threshold": served.get("decision_threshold"), "served": True}
    registry = Registry(settings.registry_path)
    version = settings.model.version or registry.latest()
    manifest = registry.manifest(version)
    variant = settings.model.variant
    if variant == AUTO:
        variant = manifest.get("recommended_variant", LEAD)
    entry = manifest.get("variants", {}).get(variant, {})
    return {"version": version, "variant": variant, "decision_threshold": entry.get("decision_threshold"),
            "served": False}


def model_reference(settings: Settings, model: dict[str, Any]) -> Rows:
    """reference.parquet of the version the predict service serves (else the configured/newest one)."""
    import pandas as pd

    from volctl.domain.registry import REFERENCE_FILE, Registry, sha256_of

    registry = Registry(settings.registry_path)
    version = model["version"]
    manifest = registry.manifest(version)
    path = registry.artifact(version, {"file": manifest.get("reference", {}).get("file", REFERENCE_FILE)})
    if not path.is_file():
        raise ConfigError(f"model {version} has no reference rows ({path} is missing)",
                          hint="retrain with `volctl model train`, or pass --reference FILE")
    if sha256_of(path) != manifest["reference"]["sha256"]:
        raise ConfigError(f"{path} does not match its manifest's sha256", hint="retrain, or pass --reference FILE")
    return Rows(pd.read_parquet(path), f"training split of model {version}")


def feature_log_rows(settings: Settings, window: str) -> Rows:
    import pandas as pd

    from volctl.domain.clock import seconds_of
    from volctl.domain.feature_log import COLUMNS, read_rows

    try:
        span = seconds_of(window)
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}") from None
    folder = settings.state_path / "features"
    frame = pd.DataFrame(read_rows(folder), columns=list(COLUMNS))
    if frame.empty:
        return Rows(frame, f"the feature log in {folder} (empty: {_why_no_rows(settings)})")
    newest = frame["ts"].max()
    frame = frame[frame["ts"] >= newest - span].reset_index(drop=True)
    age = time.time() - newest
    return Rows(frame, f"feature log, last {window} of the stream (newest row {_age(age)} old)")


def _why_no_rows(settings: Settings) -> str:
    """An empty feature log while consume runs is the warm-up, not a fault: say which streams warm
    and when their rows come."""
    from volctl.clients.http import get_json
    from volctl.domain.topology import consume_members

    answers = [get_json(m.name, m.url, "/health", timeout_s=1) for m in consume_members(settings)]
    running = [a for a in answers if a is not None]
    if not running:
        return "is the consume service running? `volctl status`"
    warming = {p: left for a in running for p, left in (a.get("warming_up") or {}).items()}
    if not warming:
        return "the consume service runs but has no ticks yet; is a source running? `volctl status`"
    streams = ", ".join(f"{p} in {_age(left)}" for p, left in sorted(warming.items()))
    count = "1 stream is" if len(warming) == 1 else f"{len(warming)} streams are"
    return (f"the consume service runs; {count} in the 5 min warm-up and rows arrive once it is over: "
            f"{streams} of stream time")


def seeds_of(settings: Settings, model: dict[str, Any] | None) -> Seeds | None:
    """The served version's level seeds: a recording's features then start from the level the
    stream (and the reference) started from."""
    if model is None:
        return None
    from volctl.domain.labels import label_rule_of
    from volctl.domain.registry import Registry

    try:
        rule = label_rule_of(Registry(settings.registry_path).manifest(model["version"]))
    except (VolctlError, OSError):  # served from a registry this machine has not got: each stream's own level
        return None
    return rule.seeds if rule else None


def rows_from_file(path: Path, settings: Settings, seeds: Seeds | None = None) -> Rows:
    """Feature rows when the file has the feature columns, else a recording."""
    import pandas as pd

    if not path.exists():
        raise ConfigError(f"{path} not found", hint="pass a recording, a parquet/csv of feature rows, "
                                                     "or a feature-log .jsonl")
    frame = None
    try:
        if path.is_file() and path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.is_file() and path.suffix == ".csv":
            frame = pd.read_csv(path)
        elif path.is_file() and path.suffix == ".jsonl" and path.name.startswith("features-"):
            from volctl.domain.feature_log import COLUMNS

            frame = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line],
                                 columns=list(COLUMNS))
    except (ValueError, OSError) as exc:  # pandas' ParserError/EmptyDataError, pyarrow's ArrowInvalid, JSON
        raise ConfigError(f"{path} is not a readable {path.suffix.lstrip('.')} file "
                          f"({type(exc).__name__}: {str(exc).strip()[:120]})",
                          hint="pass a recording, a parquet/csv of feature rows, or a feature-log .jsonl") from exc
    if frame is not None and set(FEATURES) <= set(frame.columns):
        return Rows(frame, str(path))
    from volctl.core.model.dataset import load_dataset

    dataset = load_dataset([path], settings.data.naive_timezone, seeds=seeds)
    frame = dataset.frame[dataset.frame["comparable"].astype(bool)]
    left_out = len(dataset.frame) - len(frame)
    return Rows(frame.reset_index(drop=True), f"{path} (features computed from {len(dataset.sources)} recording(s); "
                f"{left_out:,} warm-up or unquoted rows left out, as from the reference)")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
