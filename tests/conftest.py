"""Shared by every layer of the suite."""

pytest_plugins = ["pytester"]
