"""SSH into a development environment (spec 01 §5, F17, F21-F24).

When an environment's SSH switch is on, its job runs `hooks/envrun` in front of the IDE:
a private Debian `sshd` as the environment's own user, on a port the platform allocated,
that accepts one generated login (`<user>-<8 random>`) with a password shown once to the
owner and stored only hashed (sha512-crypt, what sshd's crypt() checks). This module holds
the pieces the environments domain calls; it knows no store and no scheduler.
"""

from __future__ import annotations

import glob
import hmac
import os
import re
import secrets
import string
import subprocess
import sys
from pathlib import Path
from typing import Protocol

ENVRUN = Path(__file__).resolve().parents[2] / "hooks" / "envrun"
SSHD = "/usr/sbin/sshd"
#: Debian's libnss-wrapper, in the node's multiarch directory (x86_64-linux-gnu, aarch64-linux-gnu ...)
NSS_WRAPPER = next(iter(sorted(glob.glob("/usr/lib/*-linux-gnu/libnss_wrapper.so"))),
                   "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so")
#: the image tag that says a container image has sshd (spec 01 §5 rule 2)
SSH_TAG = "SSH"
#: envrun reads the hash from its environment: an argv is readable by every user in `ps`
HASH_ENV = "HPCAI_SSH_PASSWORD_HASH"

_SUFFIX = string.ascii_lowercase + string.digits
_PASSWORD = string.ascii_letters + string.digits  # no symbols: typed by hand into Xshell
# A Unix name sshd's AllowUsers can match literally (no pattern characters, no '@').
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,47}$")
#: what new_login() makes (envrun refuses anything else: it goes into passwd and sshd_config)
LOGIN = re.compile(r"^[a-z_][a-z0-9_.-]{0,47}-[a-z0-9]{8}$")
_SHA512 = re.compile(r"^\$6\$([./0-9A-Za-z]{1,16})\$[./0-9A-Za-z]{86}$")
OPENSSL_TIMEOUT_S = 30
_PORT_PLACEHOLDER = re.compile(r"^\{port\d+\}$")


class ImageLike(Protocol):
    name: str
    runtime: str
    tags: list[str]


def new_login(user: str) -> str:
    """`<user>-<8 random lowercase letters/digits>`, a fresh name per environment."""
    if not _USER.match(user):
        raise ValueError(f"user {user!r} is not a Unix login name sshd can accept "
                         "(lowercase letters, digits, '_', '.', '-'; at most 48 characters)")
    return f"{user}-" + "".join(secrets.choice(_SUFFIX) for _ in range(8))


def new_password(length: int = 20) -> str:
    """A random password of letters and digits (about 119 bits at the default length)."""
    return "".join(secrets.choice(_PASSWORD) for _ in range(length))


def _openssl_sha512(password: str, salt: str | None = None) -> str:
    # The password goes on stdin: an argv is visible to every user of the node.
    argv = ["openssl", "passwd", "-6", "-stdin"] + (["-salt", salt] if salt else [])
    if "\n" in password or "\r" in password:
        raise ValueError("a password must not contain a line break")
    out = subprocess.run(argv, input=password + "\n", capture_output=True, text=True,
                         timeout=OPENSSL_TIMEOUT_S, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"openssl passwd -6 failed: {out.stderr.strip()}")
    return out.stdout.strip()


def hash_password(password: str) -> str:
    """sha512-crypt (`$6$<salt>$<hash>`), the form sshd checks through the system's crypt()."""
    if not password:
        raise ValueError("an empty password cannot be hashed for SSH")
    hashed = _openssl_sha512(password)
    if not _SHA512.match(hashed):
        raise RuntimeError(f"openssl passwd -6 gave an unexpected hash form: {hashed[:8]}...")
    return hashed


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` is the one `hashed` was made from (constant-time compare)."""
    m = _SHA512.match(hashed or "")
    if not m or not password or "\n" in password or "\r" in password:
        return False
    return hmac.compare_digest(_openssl_sha512(password, m.group(1)), hashed)


def sshd_missing(image: ImageLike | None, *, sshd: str = SSHD, nss_wrapper: str = NSS_WRAPPER) -> str | None:
    """Why SSH cannot run for an environment on `image` (None: on the node itself), or None.

    On the host runtime envrun starts the node's sshd through nss_wrapper, so both must be
    installed. A container image cannot be looked into from here: it must say it carries sshd
    with the `SSH` tag (spec 01 §5)."""
    if image is not None and image.runtime != "host":
        if any(t.lower() == SSH_TAG.lower() for t in image.tags):
            return None
        return (f"image {image.name!r} has no {SSH_TAG!r} tag: SSH needs an image with sshd "
                f"(openssh-server) and nss_wrapper (libnss-wrapper); pick an image tagged {SSH_TAG} "
                "or switch SSH off")
    if not os.access(sshd, os.X_OK):
        return (f"SSH needs sshd on the node and {sshd} is missing: the site admin installs Debian's "
                "openssh-server (scripts/setup.sh does), or switch SSH off")
    if not os.path.exists(nss_wrapper):
        return (f"SSH needs nss_wrapper on the node and {nss_wrapper} is missing: the site admin installs "
                "Debian's libnss-wrapper (scripts/setup.sh does), or switch SSH off")
    return None


def wrap_argv(argv: list[str], *, port: int | str, login: str, password_hash: str, home: str, workdir: str,
              python: str = sys.executable, bind: str | None = None) -> list[str]:
    """The argv that starts sshd for `login` on `port`, then runs `argv` (the IDE) under it,
    with the hash in envrun's environment (HASH_ENV) through `env`: gone from the process
    table once `env` has exec'ed envrun. A start plan sets HASH_ENV in its env instead and uses
    envrun_argv: the platform shows a service's command line."""
    if not _SHA512.match(password_hash):
        raise ValueError("password_hash must be a sha512-crypt hash ($6$...) from hash_password()")
    return ["/usr/bin/env", f"{HASH_ENV}={password_hash}",
            *envrun_argv(argv, port=port, login=login, home=home, workdir=workdir, python=python, bind=bind)]


def envrun_argv(argv: list[str], *, port: int | str, login: str, home: str, workdir: str,
                python: str = sys.executable, bind: str | None = None) -> list[str]:
    """hooks/envrun in front of `argv`; the password hash must be in its environment (HASH_ENV).

    `port` is a number or hooks/svcrun's placeholder of an allocated port (`{port2}`); `bind`
    the address sshd listens on (svcrun's `{listen}`: the platform's, not the gated loopback)."""
    if isinstance(port, str):
        if not _PORT_PLACEHOLDER.match(port):
            raise ValueError(f"SSH port {port!r} is neither a number nor an allocated port's {{portN}}")
    elif not 0 < port < 65536:
        raise ValueError(f"SSH port {port} is out of range 1-65535")
    if not argv:
        raise ValueError("argv (the environment's own command) is empty")
    if not LOGIN.match(login):
        raise ValueError(f"login {login!r} is not one new_login() makes (<user>-<8 random>)")
    for name, path in (("home", home), ("workdir", workdir)):
        if not path.startswith("/") or any(c in path for c in ':"\n\r'):  # passwd and sshd_config fields
            raise ValueError(f"{name} {path!r} must be an absolute path without ':', '\"' or line breaks")
    where = ["--bind", bind] if bind else []
    return [python, str(ENVRUN), "--port", str(port), "--login", login, "--home", home, "--workdir", workdir,
            *where, "--", *argv]


def connection_strings(login: str, host: str, port: int) -> dict[str, str]:
    """What the running instance shows (spec 01 §5): the `ssh ... -p` command (VS Code's Remote-SSH
    takes it as is) and the Xshell form, whose client wants the port positionally, without `-p`."""
    return {"ssh": f"ssh {login}@{host} -p {port}", "xshell": f"ssh {login}@{host} {port}",
            "login": login, "host": host, "port": str(port)}
