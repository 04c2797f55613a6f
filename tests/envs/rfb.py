"""A small RFB (VNC) client for the Desktop's tests: RFC 6143's handshake up to ServerInit.

It speaks to a raw TCP socket or to a WebSocket (noVNC's transport through websockify and the
portal's proxy); VncAuth is the DES challenge of RFC 6143 §7.2.2 (the key's bits reversed per
byte, the password cut or padded to 8 bytes). Also run as another Unix user (`python -m
tests.envs.rfb HOST PORT PASSWORD`), so it needs only the standard library and `cryptography`.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
from typing import Any, Callable

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

VNC_AUTH = 2


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # K,K,K: single DES
    return enc.update(challenge) + enc.finalize()


class Reader:
    """Exact reads over a source of chunks (socket recv, WebSocket binary frames)."""

    def __init__(self, chunk: Callable[[], bytes]):
        self.chunk, self.buf = chunk, b""

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.chunk()
            if not data:
                raise ConnectionError(f"closed after {len(self.buf)} of {n} bytes")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def handshake(read: Callable[[int], bytes], send: Callable[[bytes], Any], password: str | None) -> dict[str, Any]:
    """The server's version, security types and (with a password) the auth result and ServerInit."""
    version = read(12)
    out: dict[str, Any] = {"version": version.decode("latin-1"), "ok": False}
    send(b"RFB 003.008\n")
    n = read(1)[0]
    if n == 0:
        out["reason"] = read(struct.unpack(">I", read(4))[0]).decode(errors="replace")
        return out
    out["types"] = list(read(n))
    if VNC_AUTH not in out["types"]:
        return out
    send(bytes([VNC_AUTH]))
    challenge = read(16)
    # no password: answer the challenge with zeros, as a client that does not know it would
    send(vnc_auth_response(password, challenge) if password is not None else bytes(16))
    result = struct.unpack(">I", read(4))[0]
    if result != 0:
        length = struct.unpack(">I", read(4))[0]
        out["reason"] = read(length).decode(errors="replace")
        return out
    send(b"\x01")  # ClientInit: shared
    head = read(24)
    width, height = struct.unpack(">HH", head[:4])
    name = read(struct.unpack(">I", head[20:24])[0]).decode(errors="replace")
    out.update(ok=True, width=width, height=height, name=name)
    return out


def over_tcp(host: str, port: int, password: str | None, timeout: float = 20) -> dict[str, Any]:
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            return handshake(Reader(lambda: s.recv(65536)).read, s.sendall, password)
        except (ConnectionError, OSError) as exc:
            return {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    host, port, password = sys.argv[1], int(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else None)
    print(json.dumps(over_tcp(host, port, password)))
