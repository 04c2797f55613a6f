"""Platform accounts: local logins with hashed passwords, groups, roles, personal API tokens.

A login name is the owner of the jobs it submits (JobRequest.user). Unix accounts keep their
meaning (core.users): root and the `hpcai-admin` group administer, Unix groups count for spec
visibility; platform roles and groups add to them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError
from core.sessions import Sessions
from core.store import AccountRow, ApiTokenRow, GroupMemberRow, LoginFailureRow, Store, id_in_range

ROLES = ("admin", "user")
NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
# Names that mean something else to the platform or the OS; a login must not borrow them.
RESERVED = {"root", "daemon", "bin", "sys", "nobody", "hpcai-admin", "admin-api"}
MIN_PASSWORD = 8
TOKEN_PREFIX = "hpcai_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class TooManyAttempts(HpcaiError):
    """Log-in refused without looking at the password: too many recent failures."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message, field="username",
                         fix="wait, or ask an administrator to unlock the account (Users and groups)")

    def as_dict(self) -> dict:
        return dict(super().as_dict(), retry_after=self.retry_after)


@dataclass(frozen=True)
class LoginPolicy:
    """How many failed log-ins lock an account or a client address, and for how long.

    A lock lasts `lockout_s`, doubles with each lock that follows within the window and never
    exceeds `lockout_max_s`: nobody, the administrator included, is locked out for good.
    """

    max_failures: int = 5  # per account within window_s
    max_failures_per_address: int = 20  # per client address within window_s
    window_s: int = 900
    lockout_s: int = 60
    lockout_max_s: int = 900

    @classmethod
    def from_config(cls, portal: dict[str, Any]) -> "LoginPolicy":
        names = {"login_max_failures": "max_failures", "login_max_failures_per_address": "max_failures_per_address",
                 "login_window_s": "window_s", "login_lockout_s": "lockout_s", "login_lockout_max_s": "lockout_max_s"}
        values = {}
        for key, attr in names.items():
            if key in portal:
                try:
                    values[attr] = max(int(portal[key]), 1)
                except (TypeError, ValueError):
                    raise ValidationError(f"'{portal[key]}' is not a whole number", field=f"[portal] {key}",
                                          fix="fix etc/hpcai.toml") from None
        return cls(**values)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class LoginThrottle:
    """Failed log-ins counted in the store, so every portal process and worker sees the same."""

    def __init__(self, store: Store, policy: LoginPolicy | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.store = store
        self.policy = policy or LoginPolicy()
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def _keys(self, name: str, address: str | None) -> list[tuple[str, int, str]]:
        # An account is locked for the address that guessed, not for everyone: nobody can lock the
        # administrator (or anyone) out by failing from elsewhere; the address's own count still
        # stops one address from guessing many accounts.
        account = f"account:{name[:64]}" + (f"@{address[:128]}" if address else "")
        keys = [(account, self.policy.max_failures, "this account")]
        if address:
            keys.append((f"address:{address[:128]}", self.policy.max_failures_per_address, "your address"))
        return keys

    def check(self, name: str, address: str | None) -> None:
        """Raise TooManyAttempts while the account or the address is locked."""
        now = self.clock()
        with self.store.session() as s:
            for key, _limit, what in self._keys(name, address):
                row = s.get(LoginFailureRow, key)
                until = _aware(row.locked_until) if row is not None else None
                if until is not None and until > now:
                    wait = max(math.ceil((until - now).total_seconds()), 1)
                    raise TooManyAttempts(f"too many failed log-ins for {what}; try again in {wait} s", wait)

    def failed(self, name: str, address: str | None) -> int | None:
        """Count one failure; returns the lock in seconds when this failure caused one."""
        p, now = self.policy, self.clock()
        locked: int | None = None
        for key, limit, _what in self._keys(name, address):
            for _attempt in range(2):  # two first failures at once: one insert wins, the other updates
                try:
                    with self.store.session() as s:
                        row = s.get(LoginFailureRow, key, with_for_update=True)
                        if row is None:
                            row = LoginFailureRow(key=key, failures=0, window_start=now, locks=0)
                            s.add(row)
                        if now - _aware(row.window_start) > timedelta(seconds=p.window_s):
                            row.failures, row.window_start = 0, now
                            until = _aware(row.locked_until)
                            if until is None or now - until > timedelta(seconds=p.window_s):
                                row.locks = 0  # a quiet window ends the escalation
                        row.failures += 1
                        if row.failures >= limit:
                            row.locks += 1
                            seconds = min(p.lockout_s * 2 ** min(row.locks - 1, 20), p.lockout_max_s)
                            row.locked_until = now + timedelta(seconds=seconds)
                            row.failures, row.window_start = 0, now
                            locked = max(locked or 0, seconds)
                    break
                except IntegrityError:
                    continue
        self._purge(now)
        return locked

    def succeeded(self, name: str, address: str | None = None) -> None:
        """A correct log-in clears the account's count from that address (never the address's
        own count, nor another address's: a guesser elsewhere keeps their lock)."""
        key = f"account:{name[:64]}"
        with self.store.session() as s:
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.key.in_(
                [key] + ([f"{key}@{address[:128]}"] if address else []))))

    def unlock(self, name: str) -> None:
        """An administrator lifts every lock of the account, from every address."""
        key = f"account:{name[:64]}"
        with self.store.session() as s:
            s.execute(delete(LoginFailureRow).where(
                (LoginFailureRow.key == key) | LoginFailureRow.key.startswith(key + "@")))

    def locked_accounts(self) -> dict[str, datetime]:
        now = self.clock()
        with self.store.session() as s:
            rows = s.scalars(select(LoginFailureRow).where(LoginFailureRow.key.startswith("account:")))
            out: dict[str, datetime] = {}
            for r in rows:
                until = _aware(r.locked_until)
                if until is not None and until > now:
                    name = r.key.removeprefix("account:").split("@", 1)[0]
                    out[name] = max(until, out.get(name, until))
            return out

    def _purge(self, now: datetime) -> None:
        """Rows quiet for two windows are forgotten (guessed names must not pile up)."""
        old = now - timedelta(seconds=2 * self.policy.window_s + self.policy.lockout_max_s)
        with self.store.session() as s:
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.window_start < old))


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                         dklen=len(digest) // 2)
    return hmac.compare_digest(got.hex(), digest)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Account:
    name: str
    role: str
    full_name: str
    disabled: bool
    groups: list[str]
    created_at: datetime | None = None
    classification: str | None = None  # the user's security-classification level (F2)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "full_name": self.full_name,
                "disabled": self.disabled, "groups": self.groups, "classification": self.classification}


@dataclass
class ApiToken:
    id: int
    label: str
    prefix: str
    created_at: datetime | None
    last_used: datetime | None


def check_name(name: str, field: str = "name") -> str:
    name = (name or "").strip()
    if not NAME.match(name):
        raise ValidationError(f"'{name}' is not a valid name", field=field,
                              fix="use 1-32 lower-case letters, digits, '_', '.', '-', starting with a letter")
    if name in RESERVED:
        raise ValidationError(f"'{name}' is reserved", field=field, fix="choose another name")
    return name


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError(f"must have at least {MIN_PASSWORD} characters", field="password",
                              fix="choose a longer password")


class Accounts:
    def __init__(self, store: Store, policy: LoginPolicy | None = None):
        self.store = store
        self.throttle = LoginThrottle(store, policy)

    # --- accounts ---------------------------------------------------------------------------

    def _account(self, row: AccountRow) -> Account:
        return Account(row.name, row.role, row.full_name or "", bool(row.disabled),
                       self.groups_of(row.name), row.created_at, row.classification)

    def create(self, name: str, password: str, role: str = "user", full_name: str = "",
               groups: list[str] | None = None) -> Account:
        name = check_name(name)
        check_password(password)
        if role not in ROLES:
            raise ValidationError(f"'{role}' is not a role", field="role", fix="use admin or user")
        with self.store.session() as s:
            if s.get(AccountRow, name) is not None:
                raise ValidationError(f"user '{name}' already exists", field="name",
                                      fix="choose another name")
            s.add(AccountRow(name=name, password_hash=hash_password(password), role=role,
                             full_name=full_name, disabled=False))
        for g in groups or []:
            self.add_to_group(name, g)
        return self.get(name)

    def get(self, name: str) -> Account:
        with self.store.session() as s:
            row = s.get(AccountRow, name)
            if row is None:
                raise NotFound(f"no user '{name}'", field="name")
            return self._account(row)

    def find(self, name: str) -> Account | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def list(self) -> list[Account]:
        with self.store.session() as s:
            return [self._account(r) for r in s.scalars(select(AccountRow).order_by(AccountRow.name))]

    def count(self) -> int:
        with self.store.session() as s:
            return len(list(s.scalars(select(AccountRow.name))))

    def update(self, name: str, role: str | None = None, full_name: str | None = None,
               disabled: bool | None = None, password: str | None = None,
               acting: str | None = None) -> Account:
        if role is not None and role not in ROLES:
            raise ValidationError(f"'{role}' is not a role", field="role", fix="use admin or user")
        if password is not None:
            check_password(password)
        if acting == name and (role == "user" or disabled):
            raise ValidationError("you cannot demote or disable yourself", field="role",
                                  fix="ask another administrator")
        with self.store.session() as s:
            row = s.get(AccountRow, name)
            if row is None:
                raise NotFound(f"no user '{name}'", field="name")
            if role is not None:
                row.role = role
            if full_name is not None:
                row.full_name = full_name
            if disabled is not None:
                row.disabled = disabled
            if password is not None:
                row.password_hash = hash_password(password)
        if password is not None:
            self.throttle.unlock(name)
        if password is not None or disabled:  # a changed password or a disabled account ends its sessions
            Sessions(self.store).end_all(name)
        return self.get(name)

    def set_classification(self, name: str, level: str | None) -> Account:
        """The user's level (checked against the site's levels by the caller, core.site_settings)."""
        with self.store.session() as s:
            row = s.get(AccountRow, name)
            if row is None:
                raise NotFound(f"no user '{name}'", field="name")
            row.classification = level or None
        return self.get(name)

    def delete(self, name: str, acting: str | None = None) -> None:
        if acting == name:
            raise ValidationError("you cannot delete yourself", field="name", fix="ask another administrator")
        with self.store.session() as s:
            row = s.get(AccountRow, name)
            if row is None:
                raise NotFound(f"no user '{name}'", field="name")
            s.delete(row)
            s.execute(delete(GroupMemberRow).where(GroupMemberRow.user == name))
            s.execute(delete(ApiTokenRow).where(ApiTokenRow.user == name))
        Sessions(self.store).end_all(name)

    def authenticate(self, name: str, password: str) -> Account:
        """The account for a correct name/password pair; one message for every failure."""
        with self.store.session() as s:
            row = s.get(AccountRow, (name or "").strip())
            ok = row is not None and verify_password(password or "", row.password_hash)
            if not ok or row is None or row.disabled:
                raise PermissionDenied("wrong user name or password", field="password",
                                       fix="check both and try again")
            return self._account(row)

    def login(self, name: str, password: str, address: str | None) -> Account:
        """authenticate(), throttled per account and per client address (status 429 when locked).

        The lock is checked before the password, so a correct password does not get through a
        lock; once the lock has expired a correct password logs in and clears the account's count.
        """
        name = (name or "").strip()
        self.throttle.check(name, address)
        try:
            acct = self.authenticate(name, password)
        except PermissionDenied:
            seconds = self.throttle.failed(name, address)
            if seconds:
                raise TooManyAttempts(f"too many failed log-ins; try again in {seconds} s", seconds) from None
            raise
        self.throttle.succeeded(name, address)
        return acct

    def is_admin(self, name: str) -> bool:
        with self.store.session() as s:
            row = s.get(AccountRow, name)
            return row is not None and row.role == "admin" and not row.disabled

    def seed_admin(self, password: str | None = None, name: str = "admin") -> str | None:
        """Create the first administrator when there is no account; returns a generated password."""
        if self.count():
            return None
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        self.create(name, password, role="admin", full_name="Administrator")
        return password if generated else None

    # --- groups -----------------------------------------------------------------------------

    def groups_of(self, name: str) -> list[str]:
        with self.store.session() as s:
            return sorted(s.scalars(select(GroupMemberRow.group).where(GroupMemberRow.user == name)))

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self.store.session() as s:
            for row in s.scalars(select(GroupMemberRow).order_by(GroupMemberRow.group, GroupMemberRow.user)):
                out.setdefault(row.group, []).append(row.user)
        return out

    def add_to_group(self, name: str, group: str) -> None:
        group = check_name(group, field="group")
        self.get(name)
        with self.store.session() as s:
            if s.get(GroupMemberRow, (group, name)) is None:
                s.add(GroupMemberRow(group=group, user=name))

    def remove_from_group(self, name: str, group: str) -> None:
        with self.store.session() as s:
            row = s.get(GroupMemberRow, (group, name))
            if row is None:
                raise NotFound(f"user '{name}' is not in group '{group}'", field="group")
            s.delete(row)

    # --- API tokens -------------------------------------------------------------------------

    def create_token(self, name: str, label: str = "") -> str:
        """A new personal token; the caller shows it once (only its hash is stored)."""
        self.get(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.session() as s:
            s.add(ApiTokenRow(user=name, label=label[:128], token_hash=_token_hash(token),
                              prefix=token[:12]))
        return token

    def tokens(self, name: str) -> list[ApiToken]:
        with self.store.session() as s:
            rows = s.scalars(select(ApiTokenRow).where(ApiTokenRow.user == name).order_by(ApiTokenRow.id))
            return [ApiToken(r.id, r.label or "", r.prefix, r.created_at, r.last_used) for r in rows]

    def revoke_token(self, name: str, token_id: int) -> None:
        with self.store.session() as s:
            row = s.get(ApiTokenRow, token_id) if id_in_range(token_id) else None
            if row is None or row.user != name:
                raise NotFound(f"no token {token_id}", field="token")
            s.delete(row)

    def revoke_tokens_labelled(self, name: str, label: str) -> int:
        """Revoke every token of `name` with this exact label (the platform's own tokens, e.g. a
        development environment's); how many there were."""
        with self.store.session() as s:
            rows = list(s.scalars(select(ApiTokenRow).where(ApiTokenRow.user == name,
                                                            ApiTokenRow.label == label[:128])))
            for row in rows:
                s.delete(row)
            return len(rows)

    def token_user(self, token: str) -> Account | None:
        """The enabled account a bearer token belongs to, or None."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        with self.store.session() as s:
            row = s.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == _token_hash(token))).first()
            if row is None:
                return None
            account = s.get(AccountRow, row.user)
            if account is None or account.disabled:
                return None
            now = datetime.now(timezone.utc)
            last = row.last_used
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=timezone.utc)
            if last is None or (now - last).total_seconds() > 60:  # not a write per request
                row.last_used = now
            return self._account(account)
