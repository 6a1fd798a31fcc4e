"""What the service tests run: ``appion simulate`` and ``appion serve`` as subprocesses,
a webhook receiver and an SMTP server on this machine, and the HTTP API's client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN = "facility-test-token-0123456789"
TOKEN_ENV = "APPION_TEST_SERVE_TOKEN"
SERVE_STEPS = ("--preset", "enn", "--steps", "motioncor,ctf", "--motioncor-engine", "builtin",
               "--ctf-engine", "builtin", "--max-workers", "1", "--threads-per-worker", "2",
               "--poll-interval", "0.5")


def appion(*args: str) -> list[str]:
    executable = Path(sys.executable).parent / "appion"
    return [str(executable), *args]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], what: str, *, timeout: float = 240,
             processes: tuple[subprocess.Popen, ...] = (), every: float = 0.5) -> Any:
    """Poll ``condition`` until it returns something true; fail with ``what`` (and the
    output of a process that died) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args[1:3]} exited with {process.returncode} "
                                     f"while waiting for {what}:\n{output_of(process)}")
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def output_of(process: subprocess.Popen) -> str:
    path = getattr(process, "log_path", None)
    return Path(path).read_text(errors="replace")[-6000:] if path else ""


def start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    stream = open(log_path, "w")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT,
                               text=True)
    process.log_path = log_path  # type: ignore[attr-defined]
    process.log_stream = stream  # type: ignore[attr-defined]
    return process


def stop(process: subprocess.Popen, timeout: float = 120) -> int:
    """SIGTERM, as systemd stops a service; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    process.log_stream.close()  # type: ignore[attr-defined]
    return code


@dataclass
class Api:
    base: str

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return self.request("GET", path, token)

    def post(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return self.request("POST", path, token)

    def request(self, method: str, path: str, token: str | None) -> tuple[int, Any]:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=b"" if method == "POST" else None)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            body, status = error.read(), error.code
        except OSError:
            return 0, None
        if path == "/metrics":
            return status, body.decode()
        return status, json.loads(body) if body else None

    def sessions(self) -> dict[str, dict]:
        status, sessions = self.get("/api/sessions")
        return {s["name"]: s for s in sessions} if status == 200 else {}


@dataclass
class WebhookReceiver:
    """A local HTTP server keeping every JSON body POSTed to it."""

    bodies: list[dict] = field(default_factory=list)

    def __enter__(self) -> WebhookReceiver:
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def states(self, rule: str, subject: str) -> list[str]:
        return [b["alert"]["state"] for b in self.bodies
                if b["alert"]["rule"] == rule and b["alert"]["subject"] == subject]


class MailServer:
    """aiosmtpd on this machine, keeping every message."""

    def __enter__(self) -> MailServer:
        from aiosmtpd.controller import Controller
        self.messages: list[Any] = []
        messages = self.messages

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                from email import message_from_bytes
                messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.controller.stop()

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for message in self.messages]


def facility_toml(path: Path, *, webhook: str, smtp_port: int, idle_minutes: float,
                  stall_minutes: float) -> Path:
    path.write_text(f"""
[service]
poll_seconds = 0.5
lookback_hours = 1
alert_seconds = 0.5

[defaults]
idle_minutes = {idle_minutes}

[[alert]]
name = "stalled"
kind = "no_new_exposure"
minutes = {stall_minutes}

[alerts]
repeat_minutes = 60

[[notify.webhook]]
url = "{webhook}"

[[notify.smtp]]
host = "127.0.0.1"
port = {smtp_port}
from = "appion@example.org"
to = ["staff@example.org"]

[auth]
tokens = [{{ name = "staff", token_env = "{TOKEN_ENV}" }}]
""")
    return path


def serve_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, TOKEN_ENV: TOKEN, "PYTHONUNBUFFERED": "1"}


def all_done(session: dict, exposures: int) -> bool:
    return (session["collected"] == exposures
            and all(step["done"] == exposures and step["lag_exposures"] == 0
                    for step in session["steps"].values()) and len(session["steps"]) == 2)


def environ_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
