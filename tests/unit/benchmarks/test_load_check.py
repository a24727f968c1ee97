"""Which wrk runs the benchmark tools accept: SQLite's rare busy-timeout 503s, not a failing service."""

from __future__ import annotations

import pytest

from benchmarks._load import MAX_ERROR_SHARE, LoadResult, checked
from benchmarks._procs import BenchError


def _result(requests: int, non_2xx: int = 0, socket_errors: int = 0) -> LoadResult:
    return LoadResult(
        requests=requests,
        duration_s=4.0,
        non_2xx=non_2xx,
        socket_errors=socket_errors,
        p50_ms=1.0,
        p90_ms=2.0,
        p99_ms=3.0,
        mean_ms=1.5,
    )


def test_errors_up_to_the_tolerated_share_pass_and_the_result_is_returned() -> None:
    result = _result(10_000, non_2xx=int(MAX_ERROR_SHARE * 10_000) - 1, socket_errors=1)

    assert checked(result, "bare") is result


@pytest.mark.parametrize(("non_2xx", "socket_errors"), [(21, 0), (0, 21), (11, 10)])
def test_errors_beyond_the_share_void_the_run_and_say_which(non_2xx: int, socket_errors: int) -> None:
    with pytest.raises(BenchError, match=f"instrumented: 10000 requests, {non_2xx} non-2xx, {socket_errors} socket"):
        checked(_result(10_000, non_2xx, socket_errors), "instrumented")


def test_a_run_that_served_nothing_is_void() -> None:
    with pytest.raises(BenchError, match="bare: 0 requests"):
        checked(_result(0), "bare")
