"""Which hosts a connection-based dataset (PostgreSQL, MySQL, HDFS ...) may name.

The portal connects on the user's behalf, from inside the site: a free-form "host" would let
anyone probe the internal network through it (URLs with paths, other ports, the portal's own
services). A host is a bare host name or IP address; a site's [datasets] allowed_hosts (names,
IPs, networks in CIDR form, "*.example.org" patterns) limits it to the site's data servers.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import threading
import time
from collections import deque
from typing import Any

from core.errors import HpcaiError, ValidationError


class TooManyConnectionTests(HpcaiError):
    status = 429


class ConnectionTestBudget:
    """Connection tests per user and minute (the portal connects, so they are its probes):
    [datasets] connection_tests_per_minute, 20 by default; per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[tuple[str, str], deque[float]] = {}

    def take(self, site: str, user: str, per_minute: int) -> None:
        now = time.monotonic()
        with self.lock:
            q = self.calls.setdefault((site, user), deque())
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= per_minute:
                raise TooManyConnectionTests(f"at most {per_minute} connection tests a minute", field="host",
                                   fix=f"try again in {int(60 - (now - q[0])) + 1} s")
            q.append(now)


BUDGET = ConnectionTestBudget()

HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_host(value: Any, allowed: list[str] | None) -> str:
    host = str(value or "").strip()
    ip = _ip(host)
    if ip is None and not HOST_NAME.match(host):
        raise ValidationError(f"'{host[:80]}' is not a host name or IP address", field="host",
                              fix="give only the server's name or IP, e.g. db.example.org or 10.0.0.5 "
                                  "(no scheme, port or path: the port has its own field)")
    if not allowed:
        return host
    for rule in allowed:
        rule = str(rule).strip()
        if ip is not None and "/" in rule:
            try:
                if ip in ipaddress.ip_network(rule, strict=False):
                    return host
            except ValueError:
                continue
        elif fnmatch.fnmatch(host.lower().rstrip("."), rule.lower()):
            return host
    raise ValidationError(f"{host} is not one of the site's data servers", field="host",
                          fix="ask the administrator to add it to [datasets] allowed_hosts")
