"""The WebSocket service of the tests (the `websockets` package, sync API) on $HOST:$PORT.

Any path: echoes every message, except the questions "?path", "?cookie" and "?auth", which it
answers with what the handshake carried. A path ending in /bye sends "bye" and closes from the
server side. Plain HTTP GET /health (and /hello) answers 200 for the readiness check and the
proxy tests. With $TOKEN set, everything but /health needs the header X-Service-Token: $TOKEN. Each closed connection is printed as `closed <path> <code>` (the job's log).
"""

import os
import sys
from http import HTTPStatus

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


def plain_http(connection: ServerConnection, request):  # type: ignore[no-untyped-def]
    token = os.environ.get("TOKEN")  # a server with its own authentication (native_auth types)
    if token and request.path != "/health" and request.headers.get("X-Service-Token") != token:
        return connection.respond(HTTPStatus.FORBIDDEN, "wrong or missing token\n")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        if request.path in ("/health", "/hello") or request.path.startswith("/ws/hello"):
            return connection.respond(HTTPStatus.OK, f"hello {request.path}\n")
        return connection.respond(HTTPStatus.NOT_FOUND, "not here\n")
    return None


def handler(ws: ServerConnection) -> None:
    path = ws.request.path
    code = None
    try:
        if path.split("?")[0].endswith("/bye"):
            ws.send("bye")
            ws.close(1000, "server done")
        else:
            for msg in ws:
                if msg == "?path":
                    ws.send(path)
                elif msg == "?cookie":
                    ws.send(ws.request.headers.get("Cookie") or "-")
                elif msg == "?auth":
                    ws.send(ws.request.headers.get("Authorization") or "-")
                else:
                    ws.send(msg)
    except ConnectionClosed:
        pass
    finally:
        code = ws.close_code if ws.close_code is not None else 1006
        print(f"closed {path} {code}", flush=True)


if __name__ == "__main__":
    print(f"wsecho on {os.environ['HOST']}:{os.environ['PORT']}", flush=True)
    with serve(handler, os.environ["HOST"], int(os.environ["PORT"]), process_request=plain_http) as server:
        server.serve_forever()
    sys.exit(0)
