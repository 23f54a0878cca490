"""Connections that never finish a request cannot hold the web server (slowloris).

uvicorn's h11 protocol has no timeout for reading a request: a socket that sends half a header,
a byte now and then, is kept for ever, and with ``limit_concurrency`` a few dozen of them made
every real request a 503. :class:`GuardedH11` adds two things:

* a deadline for the whole request (head and body): :data:`REQUEST_TIMEOUT_S` from the moment
  the connection opens, or from the end of the previous response on a kept-alive connection;
  a connection that misses it is closed (a keep-alive connection that sends nothing is closed
  the same way);
* a cap of :data:`MAX_CONNECTIONS`: a connection beyond it makes room by closing the oldest
  connection that is still waiting for its request, never one being answered (a preview stream,
  a request in progress). A real client, whose request arrives at once, is never refused, however
  many half-open sockets there are.
"""

from __future__ import annotations

import asyncio
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 200  # well under the usual 1024 open files, with the camera's and the model's own


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a request deadline and a connection cap (see the module docstring)."""

    request_timeout_s = REQUEST_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self.waiting_since: float | None = None
        super().connection_made(transport)
        self._arm()
        if len(self.connections) > self.max_connections:
            self._evict_oldest_waiting()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE:  # the whole request is in: it is being answered now
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is not h11.DONE:
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self.waiting_since = time.monotonic()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self.waiting_since = None, None

    def _too_slow(self) -> None:
        """The request did not arrive in time: drop the connection without an answer (a slow sender
        would not read one either)."""
        self._deadline = self.waiting_since = None
        if not self.transport.is_closing():
            self.transport.close()

    def _evict_oldest_waiting(self) -> None:
        waiting = [c for c in self.connections if getattr(c, "waiting_since", None) is not None and c is not self]
        if waiting:
            min(waiting, key=lambda c: c.waiting_since)._too_slow()
