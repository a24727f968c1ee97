"""Loopback ports for the listeners tests start in other processes.

A port found free is closed again before the process that needs it binds it. Binding to port 0 draws
from the kernel's ephemeral range, the same range every outgoing connection takes its local port from,
so in that gap a Collector exporting or Prometheus scraping could take the port, and the next lookup
could hand out the same port again. CI lost a run to that: the agent Collector's health port was
already in use. So ports come from outside the ephemeral range, where outgoing connections never land,
and none is handed out twice in one test process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000  # below: well-known development ports (5432, 8080, 9090, 16686, ...)
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports, free right now, outside the ephemeral range, never seen before."""
    with _lock:
        ports: list[int] = []
        for port in _candidates():
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                ports.append(port)
                if len(ports) == count:
                    return ports
    raise RuntimeError(f"no {count} free loopback ports outside the ephemeral range {_ephemeral_range()}")


def free_port() -> int:
    (port,) = free_ports(1)
    return port


def closed_endpoint() -> str:
    """An ``http://`` URL on a loopback port nothing listens on (and no later lookup hands out)."""
    return f"http://127.0.0.1:{free_port()}"


def _candidates() -> list[int]:
    """Every usable port outside the ephemeral range, from a random place: two test runs at once on one
    machine then rarely try the same ports in the same order."""
    low, high = _ephemeral_range()
    ports = [*range(_LOWEST, low), *range(max(high + 1, _LOWEST), 65536)]
    start = random.randrange(len(ports))  # noqa: S311  (spreading, not secrecy)
    return ports[start:] + ports[:start]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(field) for field in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
