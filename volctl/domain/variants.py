"""The model variant names, importable without numpy (the CLI checks names before it loads anything)."""

BASELINE = "baseline"
ML = "ml"
VARIANTS = (BASELINE, ML)
AUTO = "auto"  # the registry version's recommended variant


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
