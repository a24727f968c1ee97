"""docs/runbooks.md: every alert's runbook_url lands on a section of its own, and no section is stale."""

from __future__ import annotations

import re
from typing import Any

import pytest
from promql_inventory import REPO_ROOT, rules

RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
SECTION = re.compile(r"^## (.+?)\s*$", re.MULTILINE)
# What each section must tell the person paged, as bold lead-ins.
PARTS = ("**Meaning.**", "**Look.**", "**Likely causes.**", "**Do.**")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def sections() -> dict[str, str]:
    """Anchor -> the section's text (up to the next `## ` heading)."""
    text = RUNBOOKS.read_text(encoding="utf-8")
    headings = list(SECTION.finditer(text))
    ends = [match.start() for match in headings[1:]] + [len(text)]
    return {github_anchor(match[1]): text[match.end() : end] for match, end in zip(headings, ends, strict=True)}


ALERTS = [rule for _, rule in rules("alert")]


@pytest.mark.parametrize("rule", ALERTS, ids=lambda rule: rule["alert"])
def test_runbook_url_anchor_is_a_section_of_the_runbooks(rule: dict[str, Any]) -> None:
    path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert (REPO_ROOT / path).resolve() == RUNBOOKS.resolve()
    assert anchor in sections(), f"docs/runbooks.md has no `## ` heading with anchor #{anchor}"


@pytest.mark.parametrize("rule", ALERTS, ids=lambda rule: rule["alert"])
def test_each_runbook_says_what_it_means_where_to_look_and_what_to_do(rule: dict[str, Any]) -> None:
    anchor = rule["annotations"]["runbook_url"].partition("#")[2]
    body = sections()[anchor]
    missing = [part for part in PARTS if part not in body]
    assert not missing, f"#{anchor} lacks {missing}"
    assert "```promql" in body, f"#{anchor} shows no query to run"


def test_every_section_belongs_to_an_alert() -> None:
    anchors = {rule["annotations"]["runbook_url"].partition("#")[2] for rule in ALERTS}
    assert set(sections()) == anchors
