"""Portal sessions that can be ended: the cookie carries a random id, the store says it is live.

Flask's signed cookie alone cannot be revoked (a copied cookie works until the key changes).
Each log-in makes a new id (no session fixation); logging out deletes it; a password change
or disabling/deleting the account deletes every session of that account.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, select

from core.store import PortalSessionRow, Store


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    def __init__(self, store: Store):
        self.store = store

    def start(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self.store.session() as s:
            s.add(PortalSessionRow(sid_hash=_hash(sid), user=user))
        return sid

    def user_of(self, sid: str | None) -> str | None:
        if not sid:
            return None
        with self.store.session() as s:
            return s.scalars(select(PortalSessionRow.user).where(PortalSessionRow.sid_hash == _hash(sid))).first()

    def end(self, sid: str | None) -> None:
        if sid:
            with self.store.session() as s:
                s.execute(delete(PortalSessionRow).where(PortalSessionRow.sid_hash == _hash(sid)))

    def end_all(self, user: str, keep: str | None = None) -> None:
        """Every session of `user` (but `keep`, the one that asked) ends now."""
        with self.store.session() as s:
            q = delete(PortalSessionRow).where(PortalSessionRow.user == user)
            if keep:
                q = q.where(PortalSessionRow.sid_hash != _hash(keep))
            s.execute(q)
