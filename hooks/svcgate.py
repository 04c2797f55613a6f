"""svcrun's authenticating gate: the service's proxied port, in front of a server that has no
authentication of its own (TensorBoard, custom servers).

It accepts a connection, reads the first request's head and lets the connection through to
the server's private loopback port only when the head carries the proxy's proof
(core.svcauth); anything else gets 403 and is closed. After that it copies bytes both ways
(HTTP keep-alive, WebSocket upgrades alike): a connection, once proven, is the proxy's own.

One asyncio loop on a thread of its own, protocols that hand each chunk straight to the other
side's transport (with flow control): no thread per connection and no GIL convoy between them,
which is what made a thread-per-direction gate cost half of the service's throughput.
Standard library only.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from core import svcauth

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 30
WRITE_BUFFER = 2 * 1024 * 1024
_HEADER = svcauth.HEADER.lower().encode()


def _proof(head: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == _HEADER:
            return value.strip().decode("latin-1")
    return None


def _refusal(status: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class _Pipe(asyncio.Protocol):
    """One side of a proven connection: what it receives goes to `peer` as is."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: "_Pipe | None" = None
        self.pending = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # room for a few reads before the other side is paused (the default 64 KiB makes a
        # 1 MB body pause and resume its sender a dozen times)
        transport.set_write_buffer_limits(high=WRITE_BUFFER)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending += data

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.transport is not None and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()  # pass the half-close on; the other direction may go on
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # flow control: a slow reader on one side pauses reading on the other
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _Client(_Pipe):
    """The visitor's side: holds bytes until the first head is complete and proven."""

    def __init__(self, gate: "Gate") -> None:
        super().__init__()
        self.gate = gate
        self.checked = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.checked:
            return super().data_received(data)
        self.pending += data
        end = self.pending.find(b"\r\n\r\n")
        if end < 0:
            if len(self.pending) > HEAD_LIMIT:
                self._refuse("431 Request Header Fields Too Large", "request head too large\n")
            return
        if self.timer is not None:
            self.timer.cancel()
        if not svcauth.verify(self.gate.secret, _proof(self.pending[:end])):
            return self._refuse("403 Forbidden", "this service is reached through the hpcai portal only "
                                "(open it from My services)\n")
        self.checked = True
        assert self.transport is not None
        self.transport.pause_reading()
        asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.transport is not None
        try:
            _, server = await loop.create_connection(_Pipe, "127.0.0.1", self.gate.server_port)
        except OSError:
            return self._refuse("502 Bad Gateway", "the server is not listening (yet)\n")
        server.peer, self.peer = self, server
        assert server.transport is not None
        server.transport.write(self.pending)
        self.pending = b""
        if server.pending:
            self.transport.write(server.pending)
            server.pending = b""
        self.transport.resume_reading()

    def _refuse(self, status: str, text: str) -> None:
        if self.transport is not None:
            self.transport.write(_refusal(status, text))
            self.transport.close()


class Gate:
    def __init__(self, bind: str, port: int, server_port: int, secret: str):
        self.server_port, self.secret = server_port, secret
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        # bound now (the port is the service's from the start); served once the server is up
        self.sock = socket.create_server((bind if bind != "0.0.0.0" else "", port), family=family, backlog=1024)
        self.loop = asyncio.new_event_loop()

    def start(self) -> "Gate":
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def serve() -> None:
                await self.loop.create_server(lambda: _Client(self), sock=self.sock)
                ready.set()

            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        threading.Thread(target=run, name="svcgate", daemon=True).start()
        ready.wait(10)
        return self

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
