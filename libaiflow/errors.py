"""What libaiflow raises. Every message says what was wrong and what to do instead."""

from __future__ import annotations


class LibaiflowError(ValueError):
    """A call libaiflow refused: a name, key or value outside the documented limits, a file that
    does not exist, a run that cannot be started. A ValueError, so existing handlers catch it."""


class ServerUnreachable(ConnectionError):
    """The tracking server did not answer after the retries. Raised only in strict mode; otherwise
    libaiflow warns once and training goes on without the lost records."""
