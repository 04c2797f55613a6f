"""The platform's own state is the platform's alone: modes of the data directory and its files.

Users' code runs as their Unix users (core.identity); what they must reach is their own job and
workspace directories, so the areas that hold them are 0711 (enter, never list) and the
platform's files (store, secrets, keys, locks, the MLflow database) are 0600 in 0700 folders.
Only what this process owns is changed: a CLI user on a root-owned site leaves it as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.config import Config

#: files in the data directory that only the platform may read
PRIVATE_FILES = ("hpcai.db", "hpcai.db-wal", "hpcai.db-shm", "portal-secret", "dataset-secret.key",
                 "watcher.lock", "hpcai.db.migrate.lock")
#: folders in the data directory that only the platform may enter
PRIVATE_DIRS = ("mlflow",)
#: folders users pass through to reach their own directory (spool/<user>, workspace/<user>)
TRAVERSE_DIRS = ("spool", "workspace", "shared")


def _mine(path: Path) -> bool:
    try:
        return path.stat().st_uid == os.geteuid()
    except OSError:
        return False


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing; make it 0600 if it is ours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if _mine(path):
            os.chmod(path, 0o600)
    return path


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _mine(path):
        os.chmod(path, 0o700)
    return path


def secure_data_dir(config: Config) -> None:
    """Apply the modes above to the data directory (cheap: a few stat/chmod calls)."""
    data = config.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError:  # not ours to create: the store says so in words when it is opened
        return
    if _mine(data):
        os.chmod(data, 0o711)
    for name in PRIVATE_FILES:
        f = data / name
        if f.exists() and _mine(f):
            os.chmod(f, 0o600)
    for name in PRIVATE_DIRS:
        d = data / name
        if d.exists():
            private_dir(d)
    for d in [config.spool, *(data / n for n in TRAVERSE_DIRS if n != "spool")]:
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o711)
        except OSError:  # a CLI user on a site they do not own
            continue
        if _mine(d):
            os.chmod(d, 0o711)
