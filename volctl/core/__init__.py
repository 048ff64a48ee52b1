"""The operations behind every command: typed inputs in, dataclasses out; never print, never exit."""
