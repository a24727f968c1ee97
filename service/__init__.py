"""MindHit recording API: sessions of browsing events, recorded by the browser extension."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mindhit-telemetry")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
