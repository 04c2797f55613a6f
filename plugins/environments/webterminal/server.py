"""The Web terminal's server (job side): terminado's TermSocket for `bash -l` and the page.

Run by hooks/svcrun as the environment's user, in its working directory, on a loopback port
behind svcrun's gate. Paths are relative ("websocket", "static/..."), so the page works under
the proxy's /dockerService/<alias>/ with the prefix stripped."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import tornado.ioloop
import tornado.web
from terminado import TermSocket, UniqueTermManager

STATIC = Path(__file__).with_name("static")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Web terminal</title>
<link rel="stylesheet" href="static/xterm.css">
<style>html,body{margin:0;height:100%;background:#000}#t{height:100%}</style></head>
<body><div id="t"></div>
<script src="static/xterm.js"></script><script src="static/addon-fit.js"></script>
<script>
const term = new Terminal({cursorBlink: true}); const fit = new FitAddon.FitAddon();
term.loadAddon(fit); term.open(document.getElementById('t')); fit.fit();
const url = new URL('websocket', location.href); url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
const ws = new WebSocket(url);
const size = () => ws.send(JSON.stringify(['set_size', term.rows, term.cols, innerHeight, innerWidth]));
ws.onopen = () => { size(); term.focus(); };
ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m[0] === 'stdout') term.write(m[1]);
  if (m[0] === 'disconnect') term.write('\\r\\n[session ended]\\r\\n'); };
ws.onclose = () => term.write('\\r\\n[connection closed]\\r\\n');
term.onData((d) => ws.send(JSON.stringify(['stdin', d])));
addEventListener('resize', () => { fit.fit(); size(); });
window.hpcaiTerm = term;
</script></body></html>"""


class Page(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE)


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Socket(TermSocket):
    def check_origin(self, origin: str) -> bool:
        return True  # behind svcrun's gate: only the proxy reaches this port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    # a login shell of the user (the job runs as them) in the job's working directory
    manager = UniqueTermManager(shell_command=["bash", "-l"], term_settings={"cwd": os.getcwd()})
    app = tornado.web.Application([
        (r"/", Page), (r"/healthz", Health),
        (r"/websocket", Socket, {"term_manager": manager}),
        (r"/static/(.*)", tornado.web.StaticFileHandler, {"path": str(STATIC)}),
    ])
    app.listen(args.port, args.host)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
