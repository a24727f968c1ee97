"""RepeatMemo: one-off keys never push out the keys that repeat."""

from __future__ import annotations

from otel._memo import RepeatMemo


def test_a_key_is_kept_from_its_second_sighting() -> None:
    memo: RepeatMemo[str, int] = RepeatMemo(size=4, probation=4)

    memo.offer("route", 1)
    assert memo.get("route") is None
    memo.offer("route", 1)
    assert memo.get("route") == 1


def test_one_off_keys_do_not_flush_the_repeated_ones() -> None:
    memo: RepeatMemo[str, int] = RepeatMemo(size=2, probation=3)
    memo.offer("route", 1)
    memo.offer("route", 1)

    for request in range(100):  # a new request id every time
        memo.offer(f"request-{request}", request)

    assert memo.get("route") == 1
    assert memo.get("request-99") is None


def test_the_kept_entries_stay_bounded() -> None:
    memo: RepeatMemo[int, int] = RepeatMemo(size=3, probation=100)
    for key in range(10):
        memo.offer(key, key)
        memo.offer(key, key)

    assert sum(memo.get(key) is not None for key in range(10)) <= 3
