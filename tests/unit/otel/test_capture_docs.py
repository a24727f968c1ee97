"""The docs' examples run as tests (docs/conftest.py): a broken example must fail the suite."""

from __future__ import annotations

import shutil

import pytest

GUIDE = """
# A guide

```python
from dataclasses import dataclass


@dataclass
class Point:
    x: int


def test_passes(tmp_path):
    assert Point(1).x == 1
    assert tmp_path.exists()
```

Some prose.

```python
def helper():
    return 41


def test_fails():
    assert helper() == 42
```

```python notest
this is not Python and is only shown
```

```toml
[not] = "python"
```
"""


def test_each_python_block_is_a_test_module_and_a_failure_points_at_the_markdown_line(
    pytester: pytest.Pytester, request: pytest.FixtureRequest
) -> None:
    docs = pytester.mkdir("docs")
    shutil.copy(request.config.rootpath / "docs" / "conftest.py", docs / "conftest.py")
    (docs / "guide.md").write_text(GUIDE, encoding="utf-8")

    result = pytester.runpytest_subprocess("docs", "-p", "no:randomly", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*assert 41 == 42*",
            "docs/guide.md:26: AssertionError",
            "FAILED docs/guide.md::line 21::test_fails - assert 41 == 42*",
        ]
    )
