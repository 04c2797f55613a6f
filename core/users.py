"""Who is asking: the Unix account of the caller (the portal maps its logins onto these)."""

from __future__ import annotations

import getpass
import grp
import os
import pwd
from pathlib import Path


def current_user() -> str:
    return os.environ.get("HPCAI_USER") if os.getuid() == 0 and os.environ.get("HPCAI_USER") \
        else getpass.getuser()


def groups_of(user: str) -> list[str]:
    names = [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    try:
        names.append(grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name)
    except KeyError:
        pass
    return sorted(set(names))


def is_admin(user: str) -> bool:
    """root and members of the `hpcai-admin` group administer the platform."""
    return user == "root" or "hpcai-admin" in groups_of(user)


def chown_tree(path: Path, user: str, include_parent: bool = False) -> None:
    """Give a directory tree to `user` (root creates job and data directories on their behalf);
    `include_parent` also gives them the directory that holds it (their spool directory)."""
    if os.getuid() != 0:
        return
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return
    for root, _dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)
    if include_parent:
        os.chown(path.parent, pw.pw_uid, pw.pw_gid)
