"""The shared domain: settings, errors, ticks, features, labels, models and their registry, clock,
metric names. The CLI and both services stand on it; it imports nothing above it (import-linter
checks that)."""
