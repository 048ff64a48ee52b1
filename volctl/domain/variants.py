"""The model variant names, importable without numpy (the CLI checks names before it loads anything)."""

BASELINE = "baseline"
ML = "ml"
VARIANTS = (BASELINE, ML)
AUTO = "auto"  # the registry version's recommended variant
