"""Real local peers for alert and report delivery: an SMTP server (aiosmtpd) and a webhook
(http.server), both on loopback, keeping what they receive."""

from __future__ import annotations

import email
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from .dbservers import free_port

PASSWORD = "s3cret-smtp-pw"


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives; optionally requires a login."""

    def __init__(self, require_auth: bool = False):
        self.messages: list[tuple[list[str], email.message.Message]] = []
        self.logins: list[str] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == b"alerts" and auth_data.password == PASSWORD.encode()
            if ok:
                sink.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself

        kwargs = (
            {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
            if require_auth
            else {}
        )
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Webhook:
    """A real HTTP endpoint on loopback; answers with the statuses queued in ``statuses`` (then 200).
    A 3xx status points (``Location``) to ``/moved``; a client that follows it is recorded in ``followed``."""

    def __init__(self):
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        self.followed: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == 200:
                    hook.posts.append(json.loads(body))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                hook.followed.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/SECRETPATH"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
