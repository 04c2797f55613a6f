"""Platform accounts: local logins with hashed passwords, groups, roles, personal API tokens.

A login name is the owner of the jobs it submits (JobRequest.user). Unix accounts keep their
meaning (core.users): root and the `hpcai-admin` group administer, Unix groups count for spec
visibility; platform roles and groups add to them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, select

from core.errors import NotFound, PermissionDenied, ValidationError
from core.store import AccountRow, ApiTokenRow, GroupMemberRow, Store, id_in_range

ROLES = ("admin", "user")
NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
# Names that mean something else to the platform or the OS; a login must not borrow them.
RESERVED = {"root", "daemon", "bin", "sys", "nobody", "hpcai-admin", "admin-api"}
MIN_PASSWORD = 8
TOKEN_PREFIX = "hpcai_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "full_name": self.full_name,
                "disabled": self.disabled, "groups": self.groups}


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
    def __init__(self, store: Store):
        self.store = store

    # --- accounts ---------------------------------------------------------------------------

    def _account(self, row: AccountRow) -> Account:
        return Account(row.name, row.role, row.full_name or "", bool(row.disabled),
                       self.groups_of(row.name), row.created_at)

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

    def authenticate(self, name: str, password: str) -> Account:
        """The account for a correct name/password pair; one message for every failure."""
        with self.store.session() as s:
            row = s.get(AccountRow, (name or "").strip())
            ok = row is not None and verify_password(password or "", row.password_hash)
            if not ok or row is None or row.disabled:
                raise PermissionDenied("wrong user name or password", field="password",
                                       fix="check both and try again")
            return self._account(row)

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
