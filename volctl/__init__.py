"""volctl: operate a real-time crypto volatility spike detector from one command line."""

__version__ = "0.1.0"
