"""Who is asking: the Unix account of the caller (the portal maps its logins onto these)."""

from __future__ import annotations

import getpass
import grp
import os
import pwd
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.identity import RunAs


def current_user() -> str:
    """The account of the CLI's caller: root may act for one (HPCAI_USER); anyone else is the
    account their Unix user maps to ([identity] map read backwards; the same name by default)."""
    if os.getuid() == 0 and os.environ.get("HPCAI_USER"):
        return os.environ["HPCAI_USER"]
    from core.config import load_config  # here: core.config is not needed by the rest of this module
    from core.errors import HpcaiError
    from core.identity import IdentityMap

    name = getpass.getuser()
    try:
        return IdentityMap(load_config().identity).account_of(name)
    except HpcaiError:  # an unreadable site file: the same name
        return name


def groups_of(user: str) -> list[str]:
    names = [g.gr_name for g in grp.getgrall() if user in g.gr_mem]
    try:
        names.append(grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name)
    except KeyError:
        pass
    return sorted(set(names))


def members_of(group: str) -> list[str]:
    """The Unix users in `group`, the inverse of groups_of: listed members and those whose
    primary group it is."""
    try:
        g = grp.getgrnam(group)
    except KeyError:
        return []
    return sorted(set(g.gr_mem) | {pw.pw_name for pw in pwd.getpwall() if pw.pw_gid == g.gr_gid})


def is_admin(user: str) -> bool:
    """root and members of the `hpcai-admin` group administer the platform."""
    return user == "root" or "hpcai-admin" in groups_of(user)


def chown_tree(path: Path, owner: "RunAs | str", include_parent: bool = False, mode: int = 0o700) -> None:
    """Give a directory tree to its user (root creates job and data directories on their behalf),
    `mode` 0700 (nobody else reads it; 0750 by site choice); `include_parent` also gives them the
    directory that holds it (their spool directory). `owner` is the job's resolved identity."""
    if os.getuid() != 0:
        return
    if isinstance(owner, str):
        # An account name: the Unix identity its jobs run as (same name, the site's map, or the
        # user the platform created for it), so what the platform writes for it is theirs to use.
        from core.config import load_config
        from core.errors import HpcaiError
        from core.identity import IdentityMap

        try:
            run_as = IdentityMap(load_config().identity).for_job(owner, "portal")
        except HpcaiError:
            return  # no identity to give it to: the job that needs it is refused anyway
        uid, gid = run_as.uid, run_as.gid
    else:
        uid, gid = owner.uid, owner.gid
    for root, _dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for f in files:
            os.chown(os.path.join(root, f), uid, gid, follow_symlinks=False)
    os.chmod(path, mode)
    if include_parent:
        os.chown(path.parent, uid, gid)
        os.chmod(path.parent, mode)
