"""Who a job runs as: a portal account (or CLI caller) mapped onto a Unix account.

The model is Open OnDemand's: the platform authenticates an account, then every job, service,
environment or conversion of that account runs as *its* Unix user, never as the platform's.

- mapping: the account's own name (default), or a site map ([identity] map = {account = "unix"},
  and/or map_file: lines "account unixname"); the Unix account is then looked up through NSS
  (pwd/grp), so /etc/passwd, LDAP, SSSD and PAM-managed directories all answer the same way;
- auto_create (site opt-in): an account without a Unix user gets an unprivileged one that the
  platform creates with useradd (named <auto_prefix><account>, marked in its GECOS field so an
  existing person's account is never taken over);
- otherwise the job is refused with a message for the administrator.

A Unix identity below min_uid (root, system accounts) never runs a portal account's code. The CLI
is the exception that proves the rule: its caller is already that Unix user (the kernel says so),
so `hpcai submit` runs as the caller. When the platform itself runs as a non-root user (the
single-user embedded default) it cannot switch users: only accounts that map to its own Unix
user may run anything.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import HpcaiError, PermissionDenied

#: sources whose request was made by the Unix user running this process (no portal in between)
CALLER_SOURCES = frozenset({"cli", "jsub"})
AUTO_MARK = "hpcai auto account"  # GECOS prefix of the Unix users the platform created
USERADD_TIMEOUT_S = 30
UNIX_NAME_MAX = 32
# The platform's own variables and secrets never reach a job from the environment of the process
# that starts it (a portal started with HPCAI_ADMIN_PASSWORD or a database URL keeps them).
PLATFORM_ONLY_ENV = re.compile(r"^(HPCAI_|MLFLOW_TRACKING_)|PASSWORD|SECRET|TOKEN|_KEY$", re.I)


class NoUnixAccount(PermissionDenied):
    """The account has no Unix identity to run code as: for the administrator to resolve."""


@dataclass(frozen=True)
class RunAs:
    """The Unix identity a job's code runs as (the scheduler plugins drop to exactly this)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    home: str = ""
    shell: str = "/bin/bash"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunAs":
        return cls(name=str(data["name"]), uid=int(data["uid"]), gid=int(data["gid"]),
                   groups=tuple(int(g) for g in data.get("groups", ())), home=str(data.get("home", "")),
                   shell=str(data.get("shell", "/bin/bash")))

    @classmethod
    def of(cls, pw: pwd.struct_passwd) -> "RunAs":
        groups = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem}
        return cls(name=pw.pw_name, uid=pw.pw_uid, gid=pw.pw_gid, groups=tuple(sorted(groups)),
                   home=pw.pw_dir, shell=pw.pw_shell or "/bin/bash")

    def job_env(self) -> dict[str, str]:
        """The login variables of this user (a job never sees the platform's own)."""
        return {"USER": self.name, "LOGNAME": self.name, "HOME": self.home or "/", "SHELL": self.shell}


@dataclass
class IdentitySettings:
    """[identity] of the site configuration (HPCAI_IDENTITY_* variables override)."""

    map: dict[str, str] = field(default_factory=dict)
    map_file: Path | None = None
    auto_create: bool = False
    auto_prefix: str = "hpc-"
    auto_home: Path = Path("/home")
    min_uid: int = 1000
    #: a job directory's mode: 0o700 (its user alone) or, by site choice, 0o750 (its group reads)
    job_dir_mode: int = 0o700

    @classmethod
    def from_config(cls, section: dict[str, Any], env: dict[str, str], where: Any) -> "IdentitySettings":
        def flag(name: str, default: bool) -> bool:
            text = env.get(f"HPCAI_IDENTITY_{name.upper()}")
            if text in (None, ""):
                return bool(section.get(name, default))
            return text.strip().lower() in ("1", "true", "yes", "on")

        map_file = env.get("HPCAI_IDENTITY_MAP_FILE") or section.get("map_file")
        return cls(map={str(k): str(v) for k, v in dict(section.get("map", {})).items()},
                   map_file=where(map_file) if map_file else None,
                   auto_create=flag("auto_create", False),
                   auto_prefix=str(env.get("HPCAI_IDENTITY_AUTO_PREFIX") or section.get("auto_prefix", "hpc-")),
                   auto_home=Path(str(section.get("auto_home", "/home"))),
                   min_uid=int(env.get("HPCAI_IDENTITY_MIN_UID") or section.get("min_uid", 1000)),
                   job_dir_mode=_job_dir_mode(section.get("job_dir_mode", "0700")))


def _job_dir_mode(value: Any) -> int:
    mode = int(value, 8) if isinstance(value, str) else int(value)
    if mode not in (0o700, 0o750, 0o770):
        raise HpcaiError(f"[identity] job_dir_mode {value!r} is not 0700, 0750 or 0770",
                         fix="a job directory is its user's (0700) or shared with its group")
    return mode


class IdentityMap:
    """Resolves an account to the Unix identity its code runs as, or refuses."""

    def __init__(self, settings: IdentitySettings):
        self.settings = settings

    # --- mapping -----------------------------------------------------------------------------

    def _file_map(self) -> dict[str, str]:
        path = self.settings.map_file
        if path is None:
            return {}
        try:
            text = path.read_text()
        except OSError as exc:
            raise HpcaiError(f"the identity map {path} cannot be read: {exc.strerror}",
                             fix="fix [identity] map_file in the site configuration") from exc
        out: dict[str, str] = {}
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) == 2:
                out[words[0]] = words[1]
        return out

    def unix_name(self, account: str) -> str:
        """The Unix name an account maps to (before auto-creation)."""
        return self.settings.map.get(account) or self._file_map().get(account) or account

    def account_of(self, unix_name: str) -> str:
        """The account a Unix user is (the map read backwards): `hpcai` on the shell and the
        portal are the same person's same jobs."""
        for mapping in (self.settings.map, self._file_map()):
            for account, unix in mapping.items():
                if unix == unix_name:
                    return account
        return unix_name

    def auto_name(self, account: str) -> str:
        name = f"{self.settings.auto_prefix}{account}"
        if len(name) > UNIX_NAME_MAX:  # useradd's limit: keep it unique with a digest
            name = f"{self.settings.auto_prefix}{hashlib.sha256(account.encode()).hexdigest()[:12]}"
        return name

    # --- resolving ---------------------------------------------------------------------------

    def for_job(self, account: str, source: str) -> RunAs:
        """The identity a job of `account` submitted through `source` runs as."""
        me = pwd.getpwuid(os.getuid())
        if source in CALLER_SOURCES and account == me.pw_name:
            return RunAs.of(me)  # the CLI caller runs its own code: the kernel vouches for it
        if os.getuid() != 0:
            return self._as_platform_user(account, me)
        pw = self._lookup(self.unix_name(account))
        if pw is None and self.settings.auto_create:
            pw = self._auto(account)
        if pw is None:
            raise NoUnixAccount(
                f"account '{account}' has no Unix account to run jobs as", field="user",
                fix=f"an administrator must create the Unix user '{self.unix_name(account)}', map the account "
                    "to an existing one ([identity] map or map_file), or let the platform create "
                    "unprivileged users ([identity] auto_create = true)")
        if pw.pw_uid < self.settings.min_uid:
            raise NoUnixAccount(
                f"account '{account}' maps to the system account '{pw.pw_name}' (uid {pw.pw_uid}); "
                "the platform never runs an account's code as a system user", field="user",
                fix=f"an administrator must map '{account}' to a personal Unix account (uid >= "
                    f"{self.settings.min_uid}, [identity] min_uid)")
        return RunAs.of(pw)

    def _as_platform_user(self, account: str, me: pwd.struct_passwd) -> RunAs:
        if self.unix_name(account) == me.pw_name:
            return RunAs.of(me)
        raise NoUnixAccount(
            f"the platform runs as the Unix user '{me.pw_name}' and cannot run account '{account}''s "
            "code as anyone else", field="user",
            fix=f"map '{account}' to '{me.pw_name}' ([identity] map), or run the portal as root so each "
                "account runs as its own Unix user")

    @staticmethod
    def _lookup(name: str) -> pwd.struct_passwd | None:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            return None

    def _auto(self, account: str) -> pwd.struct_passwd:
        """The platform-created Unix user of an account (created now if it does not exist)."""
        name = self.auto_name(account)
        mark = f"{AUTO_MARK} {account}"
        for attempt in range(5):  # parallel first jobs race on /etc/passwd's lock
            pw = self._lookup(name)
            if pw is not None:
                if pw.pw_gecos != mark:
                    raise NoUnixAccount(
                        f"the Unix user '{name}' exists but was not created for account '{account}'",
                        field="user", fix="an administrator must map the account ([identity] map) or "
                                          "choose another [identity] auto_prefix")
                return pw
            try:
                proc = subprocess.run(
                    ["useradd", "--create-home", "--home-dir", str(self.settings.auto_home / name),
                     "--shell", "/bin/bash", "--comment", mark, "--user-group", "-K", "UMASK=077",
                     "-K", f"UID_MIN={max(self.settings.min_uid, 1000)}", name],
                    capture_output=True, text=True, timeout=USERADD_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise HpcaiError(f"could not create the Unix user '{name}': {exc}",
                                 fix="check that useradd works on the portal's host") from exc
            if proc.returncode == 0:
                continue
            if self._lookup(name) is None and attempt == 4:
                raise HpcaiError(f"could not create the Unix user '{name}': {proc.stderr.strip()}",
                                 fix="check that useradd works on the portal's host")
            time.sleep(0.2 * (attempt + 1))
        pw = self._lookup(name)
        if pw is None:
            raise HpcaiError(f"could not create the Unix user '{name}'")
        return pw


def job_base_env(run_as: RunAs, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a job starts from: the launching process's, less the platform's own
    variables and secrets, with the job user's login variables."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items()
           if not PLATFORM_ONLY_ENV.search(k)}
    env.update(run_as.job_env())
    return env


def drop_privileges(run_as: RunAs) -> None:
    """In a child before exec: become `run_as` with its groups (a no-op when already them)."""
    if os.getuid() == run_as.uid and os.geteuid() == run_as.uid:
        return
    os.setgroups(list(run_as.groups) or [run_as.gid])
    os.setgid(run_as.gid)
    os.setuid(run_as.uid)
    if os.getuid() != run_as.uid or os.geteuid() != run_as.uid:  # never run user code half-dropped
        raise PermissionError("could not drop to the job's user")
