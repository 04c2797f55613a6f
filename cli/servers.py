"""`hpcai serve` and `hpcai mlflow`: the portal and the managed tracking server."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import replace

from cli.common import dump_json, guarded, new_platform

PROG = "hpcai"


@guarded(PROG)
def cmd_mlflow(args: argparse.Namespace) -> int:
    """Start the tracking server, say where it is once healthy, and run until interrupted."""
    from core import tracking

    settings = tracking.settings_from_config(new_platform().config)
    if args.host or args.port:
        settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    if args.status:
        info = tracking.describe(settings)
        dump_json(info)
        return 0 if info["healthy"] else 1
    server = tracking.start_server(settings, wait_s=args.wait)
    if not server.owned:
        print(f"MLflow is already running at {server.url}")
        return 0
    print(f"MLflow tracking server ready at {server.url} (store {settings.backend_store_uri}, "
          f"artifacts {settings.artifacts_destination}, log {settings.log_file})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()


@guarded(PROG)
def cmd_serve(args: argparse.Namespace) -> int:
    from portal.server import serve

    if args.workers < 1 or args.threads < 1:
        print("hpcai serve: --workers and --threads must be at least 1", file=sys.stderr)
        return 2
    return serve(args.host, args.port, threads=args.threads, watch=not args.no_watch, workers=args.workers,
                 mlflow=not args.no_mlflow, front=args.front)




def _serve_parser(sv: argparse.ArgumentParser) -> None:
    sv.add_argument("--host", default=os.environ.get("HPCAI_PORTAL_HOST", "127.0.0.1"),
                    help="address to bind (default 127.0.0.1; the portal has no TLS of its own)")
    sv.add_argument("--port", type=int, default=int(os.environ.get("HPCAI_PORTAL_PORT", "8080")))
    sv.add_argument("--workers", type=int, default=1,
                    help="gunicorn worker processes (default 1; one watcher whatever the number)")
    sv.add_argument("--threads", type=int, default=64,
                    help="threads per worker (default 64; an open log stream or WebSocket holds one each)")
    sv.add_argument("--no-watch", action="store_true", help="do not run the scheduler watcher in this process")
    sv.add_argument("--no-mlflow", action="store_true",
                    help="do not start the managed MLflow server (it starts when [tracking] is enabled "
                         "and no external uri is set)")
    sv.add_argument("--front", choices=("none", "nginx"), default=os.environ.get("HPCAI_PORTAL_FRONT", "none"),
                    help="nginx: put nginx in front (it serves the service proxy's data path; needs nginx)")
    sv.set_defaults(func=cmd_serve)


def _mlflow_parser(ml: argparse.ArgumentParser) -> None:
    ml.add_argument("--host", help="address to listen on (default from [tracking])")
    ml.add_argument("--port", type=int, help="port to listen on (default from [tracking])")
    ml.add_argument("--wait", type=float, metavar="SECONDS", help="longest wait for /health at start")
    ml.add_argument("--status", action="store_true", help="print the settings and whether the server answers")
    ml.set_defaults(func=cmd_mlflow)


PARSERS = {"serve": _serve_parser, "mlflow": _mlflow_parser}
