"""Runs the Python examples of the docs as tests, so a guide can never drift from the code.

Every ```` ```python ```` fence of a ``docs/*.md`` file is a test module of its own (a reader copies
one block, so each must stand alone): its ``test_*`` functions are collected with fixtures, marks and
parametrisation exactly as in a test file. Its lines keep their numbers, so a failure points at the
example in the ``.md`` file. A fence opened with ```` ```python notest ```` is shown, not run.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The function pytest's import hook applies to test modules; fences are never imported from a file,
# so the hook cannot see them, and without it a failing `assert` would not say what it compared.
from _pytest.assertion.rewrite import rewrite_asserts

FENCE = re.compile(r"^```python[ \t]*(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".md":
        return MarkdownFile.from_parent(parent, path=file_path)
    return None


class MarkdownFile(pytest.File):
    def collect(self) -> Iterator[pytest.Module]:
        text = self.path.read_text(encoding="utf-8")
        for fence in FENCE.finditer(text):
            if "notest" in fence["info"].split():
                continue
            first_line = text.count("\n", 0, fence.start("code"))
            name = f"line {first_line + 1}"
            example = MarkdownExample.from_parent(self, path=self.path, name=name, nodeid=f"{self.nodeid}::{name}")
            example.source = "\n" * first_line + fence["code"]
            yield example


class MarkdownExample(pytest.Module):
    source = ""

    def _getobj(self) -> Any:
        filename = str(self.path)
        tree = ast.parse(self.source, filename=filename)
        rewrite_asserts(tree, self.source.encode(), filename, self.config)
        module_name = f"docs_example_{self.path.stem}_{self.name.replace(' ', '_')}"
        module = types.ModuleType(module_name)
        module.__file__ = filename
        sys.modules[module_name] = module  # dataclasses and postponed annotations look modules up here
        exec(compile(tree, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - the docs' own examples
        return module
