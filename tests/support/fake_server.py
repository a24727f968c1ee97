"""What the fake Slack and the fake Sentry share: an HTTP server on 127.0.0.1 with its own thread, the
requests it recorded, and a failure mode the test sets, including the hang that accepts a request and
never answers it until released (bounded, so a broken test cannot hang the suite).

A fake subclasses ``FakeServer``, gives its mode enum (whose hang member has the value ``"hang"``) and
answers in ``_handle``.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body

HANG = "hang"  # the value of every fake's hang mode

ModeT = TypeVar("ModeT", bound=StrEnum)
RecordT = TypeVar("RecordT")


class FakeServer(Generic[ModeT, RecordT]):
    """Start and stop it, or use it as a context manager; ``set_mode`` makes it fail until set back."""

    def __init__(self, *, mode: ModeT, hang_limit_s: float, thread_name: str) -> None:
        self.mode = mode
        self.hang_limit_s = hang_limit_s
        self.retry_after = 30
        self._records: list[RecordT] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=thread_name, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def set_mode(self, mode: ModeT | str, *, retry_after: int | None = None) -> None:
        self.mode = type(self.mode)(mode)
        if retry_after is not None:
            self.retry_after = retry_after
        if self.mode == HANG:
            self._released.clear()

    def release(self) -> None:
        """Let hung requests go: their connections close without an answer."""
        self._released.set()

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _record(self, record: RecordT) -> None:
        with self._lock:
            self._records.append(record)

    def _recorded(self) -> list[RecordT]:
        with self._lock:
            return list(self._records)

    def _hang(self) -> None:
        """Hold the request unanswered until ``release()``, or ``hang_limit_s`` at the most."""
        self._released.wait(self.hang_limit_s)

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        """The answer to one POST (``headers`` with lower-case names), or None to close without one."""
        raise NotImplementedError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer[Any, Any]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is expected here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.fake._handle(self.path, headers, raw)
        if answer is None:
            self.close_connection = True
            return
        status, response_headers, body = answer
        self.send_response(status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request line on stderr."""
