"""Shared by every layer of the suite: pytester, and the fake Slack and Sentry servers as fixtures."""

pytest_plugins = ["pytester", "fake_slack", "fake_sentry"]
