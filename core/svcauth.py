"""The proof a proxied request carries to a service's own port (standard library only: the
job side imports it too).

The platform gives every start of a service a random secret, kept in the store and in the
job's private plan. The proxy signs a timestamp with it; svcrun's gate (hooks/svcgate.py)
lets a connection through to the server only when its first request carries a fresh
signature. So another user who connects to the service's host:port directly is refused,
whatever the server behind it checks (TensorBoard, custom services check nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Hpcai-Proxy-Auth"
#: how long a signature is accepted (clocks of the portal host and the nodes may differ a little)
WINDOW_S = 300
#: how long the proxy reuses one signature before making a new one (well inside the window)
REUSE_S = 60


def sign(secret: str, now: float | None = None) -> str:
    ts = int(time.time() if now is None else now)
    mac = hmac.new(secret.encode(), f"v1:{ts}".encode(), hashlib.sha256).hexdigest()
    return f"v1:{ts}:{mac}"


def front_proof(secret: str) -> str:
    """The proof nginx in front of the portal presents (portal/front.py): it cannot sign per
    request, so it gets one derived from the secret, written only in its 0600 configuration;
    it ends with this start of the service (a restart draws a new secret)."""
    return "k1:" + hmac.new(secret.encode(), b"k1:front", hashlib.sha256).hexdigest()


def verify(secret: str, value: str | None, now: float | None = None) -> bool:
    if not secret or not value:
        return False
    if value.startswith("k1:"):
        return hmac.compare_digest(front_proof(secret), value.strip())
    parts = value.strip().split(":")
    if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
        return False
    ts = int(parts[1])
    if abs((time.time() if now is None else now) - ts) > WINDOW_S:
        return False
    expected = hmac.new(secret.encode(), f"v1:{ts}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts[2])


class Signer:
    """One signature per secret, renewed every REUSE_S: signing costs nothing per request."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, str]] = {}

    def header(self, secret: str) -> str:
        now = time.time()
        got = self._cache.get(secret)
        if got is None or now - got[0] > REUSE_S:
            if len(self._cache) > 4096:  # services come and go: forget old secrets
                self._cache.clear()
            got = (now, sign(secret, now))
            self._cache[secret] = got
        return got[1]
