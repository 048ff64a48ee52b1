"""The only home of rich: consoles, tables and JSON output."""
