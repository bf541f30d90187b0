"""`alx serve: the HTTP API under Waitress."""

from __future__ import annotations

from ..database import connect, require_schema
from ..errors import UserError
from .common import add_command, apply_logging, load
from .output import say


def register(sub) -> None:
    p = add_command(
        sub,
        "serve",
        cmd_serve,
        "serve the HTTP API (Moodle-compatible endpoint and REST v1) with Waitress",
        "Serve /webservice/rest/server.php (Moodle's REST protocol), /api/v1/course-progress,\n"
        "/api/v1/health, /healthz, /metrics and /api/v1/openapi.json until SIGTERM or Ctrl-C.\n"
        "Put nginx (TLS) in front and set trusted_proxy so client addresses are right.",
    )
    p.add_argument("--host", help="address to listen on (api_host, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (api_port, default 8080; 0 picks a free one)")
    p.add_argument(
        "--threads", type=int, help="worker threads = database connections (api_threads, default 8)"
    )
    p.add_argument(
        "--workers",
        type=int,
        help="processes sharing the port, each with --threads threads; one Python process uses about "
        "one core (api_workers, default 1)",
    )


def cmd_serve(args) -> int:
    from ..http.serve import serve

    config = load(
        args, api_host=args.host, api_port=args.port, api_threads=args.threads, api_workers=args.workers
    )
    apply_logging(config, args.verbose)
    db = connect(config)
    require_schema(db, config)
    db.close()
    try:
        return serve(
            config,
            config.api_host,
            config.api_port,
            config.api_threads,
            lambda url: say(f"alx: serving on {url} (Ctrl-C or SIGTERM stops)"),
            workers=config.api_workers,
        )
    except OSError as exc:  # address in use, not permitted, unknown host
        raise UserError(
            f"cannot listen on {config.api_host}:{config.api_port}: {exc.strerror or exc}. "
            "Choose another --port/--host (api_port, api_host)."
        ) from None
