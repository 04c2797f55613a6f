"""Errors a user can cause. Each says which field is wrong and how to fix it.

The CLI prints them on stderr and exits 2; the API answers 4xx with a JSON body.
Anything that is not an HpcaiError is a bug in hpcai and may surface as a traceback.
"""

from __future__ import annotations


class HpcaiError(Exception):
    """A problem the user can fix. `field` names the input at fault, when there is one."""

    status = 400  # HTTP status the API answers with
    exit_code = 2  # CLI exit status

    def __init__(self, message: str, field: str | None = None, fix: str | None = None):
        self.message = message
        self.field = field
        self.fix = fix
        super().__init__(self.text)

    @property
    def text(self) -> str:
        head = f"{self.field}: {self.message}" if self.field else self.message
        return f"{head} ({self.fix})" if self.fix else head

    def as_dict(self) -> dict:
        return {"error": self.message, "field": self.field, "fix": self.fix, "text": self.text}


class ValidationError(HpcaiError):
    """The request is malformed or refers to something that does not exist."""


class ValidationErrors(ValidationError):
    """Several field errors at once, so a form can show each next to its field."""

    def __init__(self, errors: list[HpcaiError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, first.field, first.fix)

    @property
    def text(self) -> str:  # type: ignore[override]
        return "\n".join(e.text for e in getattr(self, "errors", [])) or super().text

    def as_dict(self) -> dict:
        return {"error": self.text, "errors": [e.as_dict() for e in self.errors]}


class NotFound(HpcaiError):
    status = 404


class PermissionDenied(HpcaiError):
    status = 403


class Conflict(HpcaiError):
    """The thing exists and the user may act on it, but not in its current state (HTTP 409).

    `state` is what it is now and `allowed` what may be done to it now, so a client can say
    both without parsing the message."""

    status = 409

    def __init__(self, message: str, field: str | None = None, fix: str | None = None,
                 state: str | None = None, allowed: list[str] | None = None):
        self.state = state
        self.allowed = list(allowed or [])
        super().__init__(message, field, fix)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "state": self.state, "allowed": self.allowed}


class SchedulerUnavailable(HpcaiError):
    """The scheduler could not be reached; nothing was submitted."""

    status = 503
    exit_code = 1


class DatabaseUnavailable(HpcaiError):
    """The platform database could not be reached; nothing was changed."""

    status = 503
    exit_code = 1


class ParseError(ValidationError):
    """A syntax error in a file the user wrote (batch script, machine file, JSON)."""

    def __init__(self, message: str, source: str, line: int, column: int | None = None,
                 fix: str | None = None):
        where = f"{source}:{line}" + (f":{column}" if column is not None else "")
        self.source, self.line, self.column = source, line, column
        super().__init__(message, field=where, fix=fix)
