"""Site configuration: etc/hpcai.toml, overridden by HPCAI_* environment variables.

Lookup order for the file: $HPCAI_CONFIG, then $HPCAI_HOME/etc/hpcai.toml, then the etc/
directory of this source tree. Relative paths in the file are relative to HPCAI_HOME (the
source tree by default), so the embedded defaults need no setup.
"""

from __future__ import annotations

import os
import pickle
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import HpcaiError
from core.identity import IdentitySettings

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    home: Path
    path: Path | None
    default_scheduler: str = "local"
    default_runtime: str = "host"
    db_url: str = ""
    spool: Path = Path()
    data_dir: Path = Path()
    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    site_modules: list[str] = field(default_factory=list)
    schedulers: dict[str, dict[str, Any]] = field(default_factory=dict)
    images_file: Path = Path()
    specs_file: Path = Path()
    images_dir: Path = Path()  # where `hpcai images build` puts image environments
    allow_cpu_for_gpu_only: bool = False  # CPU-only test sites: GPU-only modes and service types take CPU specs
    port_range: tuple[int, int] = (29500, 39499)
    identity: IdentitySettings = field(default_factory=IdentitySettings)  # who jobs run as
    raw: dict[str, Any] = field(default_factory=dict)

    def scheduler_settings(self, name: str) -> dict[str, Any]:
        return dict(self.schedulers.get(name, {}))


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bool(text: str | None, default: bool) -> bool:
    if text is None or text == "":
        return default
    return text.strip().lower() in ("1", "true", "yes", "on")


#: path -> ((mtime_ns, size), the parsed file pickled): a submission reads the site file several times (plugins
#: call load_config() in their hooks); parsing it each time was a tenth of JobService.submit.
_TOML_CACHE: dict[Path, tuple[tuple[int, int], bytes]] = {}


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file, re-read whenever it changes; a fresh copy each call (kept pickled: five
    times cheaper than copy.deepcopy), so no caller's changes reach another's."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _TOML_CACHE.get(path)
    if cached is None or cached[0] != stamp:
        try:
            cached = (stamp, pickle.dumps(tomllib.loads(path.read_text())))
        except tomllib.TOMLDecodeError as exc:
            raise HpcaiError(f"{path}: {exc}", fix="fix the TOML syntax of the site configuration") from exc
        _TOML_CACHE[path] = cached
    parsed: dict[str, Any] = pickle.loads(cached[1])
    return parsed


def load_config(environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    home = Path(env.get("HPCAI_HOME") or SOURCE_ROOT).resolve()
    path = Path(env["HPCAI_CONFIG"]) if env.get("HPCAI_CONFIG") else home / "etc" / "hpcai.toml"
    if not path.exists() and not env.get("HPCAI_CONFIG"):
        path = SOURCE_ROOT / "etc" / "hpcai.toml"
    raw: dict[str, Any] = {}
    if path.exists():
        raw = _read_toml(path)
    elif env.get("HPCAI_CONFIG"):
        raise HpcaiError(f"configuration file {path} does not exist", field="HPCAI_CONFIG")
    core = raw.get("core", {})
    plugins = raw.get("plugins", {})

    def where(value: str) -> Path:
        p = Path(os.path.expandvars(os.path.expanduser(value)))
        return p if p.is_absolute() else home / p

    data_dir = where(env.get("HPCAI_DATA_DIR") or core.get("data_dir", "var"))
    spool = where(env.get("HPCAI_SPOOL") or core.get("spool", str(data_dir / "spool")))
    db_url = env.get("HPCAI_DB_URL") or core.get("database", "") or f"sqlite:///{data_dir / 'hpcai.db'}"
    low, high = core.get("port_range", [29500, 39499])
    return Config(
        home=home,
        path=path if path.exists() else None,
        default_scheduler=env.get("HPCAI_DEFAULT_SCHEDULER") or core.get("default_scheduler", "local"),
        default_runtime=env.get("HPCAI_DEFAULT_RUNTIME") or core.get("default_runtime", "host"),
        db_url=db_url,
        spool=spool,
        data_dir=data_dir,
        enable=list(plugins.get("enable", [])) + _split(env.get("HPCAI_PLUGINS_ENABLE", "")),
        disable=list(plugins.get("disable", [])) + _split(env.get("HPCAI_PLUGINS_DISABLE", "")),
        site_modules=list(plugins.get("site_modules", [])),
        schedulers=dict(raw.get("schedulers", {})),
        images_file=where(env.get("HPCAI_IMAGES") or core.get("images", "etc/images.toml")),
        images_dir=where(env.get("HPCAI_IMAGES_DIR") or core.get("images_dir", "var/images")),
        specs_file=where(env.get("HPCAI_SPECS") or core.get("resource_specs", "etc/resource_specs.toml")),
        port_range=(int(low), int(high)),
        allow_cpu_for_gpu_only=_bool(env.get("HPCAI_ALLOW_CPU_FOR_GPU_ONLY"),
                                     bool(core.get("allow_cpu_for_gpu_only", False))),
        # Who may run as whom is the host's policy, not a data directory's: HPCAI_IDENTITY_* come
        # from the process environment too (a test harness opts a whole run into auto_create).
        identity=IdentitySettings.from_config(raw.get("identity", {}), {**os.environ, **env}, where),
        raw=raw,
    )
