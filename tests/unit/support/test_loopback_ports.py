"""The test processes' port allocator: the e2e stack's listeners must never collide (a CI run was lost)."""

import socket

import loopback_ports
import pytest
from loopback_ports import free_ports


def test_ports_are_distinct_across_calls_and_outside_the_ephemeral_range() -> None:
    low, high = loopback_ports._ephemeral_range()
    first, second = free_ports(7), free_ports(7)

    assert len(set(first + second)) == 14
    assert all(not low <= port <= high for port in first + second)


def test_a_port_something_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    (candidate,) = free_ports(1)
    loopback_ports._handed_out.discard(candidate)  # as if never handed out, but now taken by a listener
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", candidate))
        listener.listen()
        order = loopback_ports._candidates()
        monkeypatch.setattr(loopback_ports, "_candidates", lambda: [candidate, *order])

        (port,) = free_ports(1)

    assert port != candidate


def test_running_out_is_an_error_naming_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopback_ports, "_candidates", lambda: [])

    with pytest.raises(RuntimeError, match="ephemeral range"):
        free_ports(1)
