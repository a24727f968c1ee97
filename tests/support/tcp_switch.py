"""A loopback TCP port whose far end a test switches between working, closed and hanging.

The service is pointed at the switch once, for its whole life; the test then turns the Collector behind
it off and on without touching the service:

- ``forward``: connections are relayed to ``upstream`` (a real Collector or receiver);
- ``closed``: nothing listens, so connecting is refused at once;
- ``hang``: connections are accepted and read, and never answered (a Collector that is stuck).

Switching drops every open connection, as a Collector that dies or restarts would. Every connection is
recorded (opened, closed, bytes read) so a test can bound how long a client held one. Relays and held
connections end when the switch closes; nothing outlives ``running_switch()``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

from loopback_ports import free_port

Mode = Literal["forward", "closed", "hang"]


@dataclass
class Connection:
    mode: Mode
    opened: float
    closed: float | None = None
    received: int = 0

    @property
    def held_s(self) -> float:
        return (self.closed if self.closed is not None else time.monotonic()) - self.opened


@dataclass
class TcpSwitch:
    port: int
    upstream: tuple[str, int] | None
    mode: Mode = "closed"
    connections: list[Connection] = field(default_factory=list)
    _listener: socket.socket | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: Mode, *, upstream: tuple[str, int] | None = None) -> None:
        with self._lock:
            if upstream is not None:
                self.upstream = upstream
            self.mode = mode
            sockets, self._open = self._open, set()
            listener, self._listener = self._listener, None
        for sock in sockets:
            _close(sock)
        if listener is not None:
            _close(listener)
        if mode != "closed":
            self._listen()

    def opened_since(self, when: float) -> list[Connection]:
        return [c for c in list(self.connections) if c.opened >= when]

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="tcp-switch", daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by set_mode or stop
            with self._lock:
                mode, upstream = self.mode, self.upstream
                self._open.add(client)
            record = Connection(mode, time.monotonic())
            self.connections.append(record)
            if mode == "forward" and upstream is not None:
                threading.Thread(target=self._relay, args=(client, upstream, record), daemon=True).start()
            else:
                threading.Thread(target=self._hold, args=(client, record), daemon=True).start()

    def _hold(self, client: socket.socket, record: Connection) -> None:
        try:
            while not self._stopped.is_set():
                data = client.recv(65536)
                if not data:
                    break
                record.received += len(data)
        except OSError:
            pass
        finally:
            record.closed = time.monotonic()
            self._forget(client)

    def _relay(self, client: socket.socket, upstream: tuple[str, int], record: Connection) -> None:
        try:
            server = socket.create_connection(upstream, timeout=5)
        except OSError:
            record.closed = time.monotonic()
            self._forget(client)
            return
        server.settimeout(None)
        with self._lock:
            self._open.add(server)

        def pump(source: socket.socket, target: socket.socket) -> None:
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    target.sendall(data)
            except OSError:
                pass
            finally:
                with suppress(OSError):
                    target.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(server, client), daemon=True)
        back.start()
        pump(client, server)
        back.join(timeout=30)
        record.closed = time.monotonic()
        self._forget(client)
        self._forget(server)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _close(sock)

    def stop(self) -> None:
        self._stopped.set()
        self.set_mode("closed")


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


@contextmanager
def running_switch(upstream: tuple[str, int] | None = None, *, mode: Mode = "forward") -> Iterator[TcpSwitch]:
    switch = TcpSwitch(free_port(), upstream)
    switch.set_mode(mode)
    try:
        yield switch
    finally:
        switch.stop()
