"""Name resolution of `*.localhost` as browsers do it (RFC 6761 §6.3: always loopback).

Chromium and Firefox resolve `<alias>.svc.localhost` (a service's own origin) to loopback
without asking DNS; glibc without nss-myhostname does not. Importing this module gives the
test process (requests, websocket clients) the browsers' rule; nothing else changes.
"""

from __future__ import annotations

import socket
from typing import Any

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, str) and host.lower().rstrip(".").endswith(".localhost"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


if socket.getaddrinfo is _real_getaddrinfo:
    socket.getaddrinfo = _getaddrinfo
