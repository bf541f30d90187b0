"""The ceiling of `make bench-api`'s Moodle-endpoint throughput: a bare WSGI app under Waitress,
with the thread count ALX gets, that answers the endpoint's POSTs with the pages ALX served (read
from a file at start), parsing the form body as ALX does. No token check, no log, no database."""

from __future__ import annotations

import argparse
import pickle
import signal
import sys
from urllib.parse import parse_qsl

from waitress import serve
from waitress.server import create_server


def make_app(bodies: dict[str, bytes]):
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
        body = bodies.get(form.get("offset", ""))
        if body is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--bodies", required=True, help="pickle of {offset: body bytes}")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes on one socket, as alx serve --workers"
    )
    args = parser.parse_args()
    with open(args.bodies, "rb") as f:
        bodies = pickle.load(f)
    app = make_app(bodies)
    if args.workers == 1:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # Waitress's loop ends on it
        serve(app, host="127.0.0.1", port=args.port, threads=args.threads, ident="", _quiet=True)
        return
    from alxapi.http.workers import listening_socket, serve_workers

    def worker(_config, sock, threads: int, ready) -> int:
        server = create_server(app, sockets=[sock], threads=threads, ident="")
        ready(server)  # the same even shares of the connections as ALX's workers
        server.run()
        return 0

    sock = listening_socket("127.0.0.1", args.port)
    raise SystemExit(serve_workers(None, sock, args.workers, args.threads, worker, print))


if __name__ == "__main__":
    main()
