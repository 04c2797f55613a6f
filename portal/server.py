"""`hpcai serve`: the portal under a production WSGI server (waitress) plus the watcher."""

from __future__ import annotations

import os
import sys

from core.platform import Platform
from core.watcher import Watcher
from portal import create_app


def seed_admin(platform: Platform) -> None:
    """First start: create `admin` (password from HPCAI_ADMIN_PASSWORD, else printed once)."""
    generated = platform.accounts.seed_admin(os.environ.get("HPCAI_ADMIN_PASSWORD") or None)
    if generated:
        print(f"hpcai serve: created administrator 'admin' with password: {generated}\n"
              "hpcai serve: it is shown only now; change it under Account.", file=sys.stderr, flush=True)


def serve(host: str = "127.0.0.1", port: int = 8080, threads: int = 16, watch: bool = True) -> int:
    from waitress import serve as waitress_serve

    platform = Platform()
    platform.store.migrate()
    seed_admin(platform)
    platform.specs.sync()
    watcher = Watcher(platform).start() if watch else None
    app = create_app(platform, watcher=watcher)
    print(f"hpcai serve: portal on http://{host}:{port}/ (data {platform.config.data_dir})",
          file=sys.stderr, flush=True)
    try:
        # Log streams hold a thread each while they follow a job; keep enough for pages.
        waitress_serve(app, host=host, port=port, threads=threads, ident="hpcai",
                       channel_timeout=120, clear_untrusted_proxy_headers=True)
    finally:
        if watcher:
            watcher.stop()
    return 0
