"""A real HTTP receiver on 127.0.0.1 for the webhook tests: records every request (headers and
raw body) and answers as told, one scripted answer per request (then 200)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Each entry answers one request: an int (status), ("hang", seconds) or ("body", status,
    # bytes). When empty: 200.
    script: list = field(default_factory=list)
    got_request: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self):
        return self.script.pop(0) if self.script else 200


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver_box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            receiver = receiver_box[0]
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            receiver.requests.append(Received(headers={k.lower(): v for k, v in
                                                       self.headers.items()}, body=body))
            receiver.got_request.set()
            answer = receiver.answer()
            if isinstance(answer, tuple) and answer[0] == "hang":
                receiver.release.wait(answer[1])
                answer = 200
            payload = b"ok"
            if isinstance(answer, tuple) and answer[0] == "body":
                answer, payload = answer[1], answer[2]
            try:
                self.send_response(answer)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the sender gave up (time-out) or was killed
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    receiver_box.append(receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


def wait_for(predicate, *, timeout: float = 120, what: str = "the condition"):
    """Poll `predicate` (bounded): the dispatcher follows the feed, which a transaction of
    another test process may hold back a while."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def receiver():
    """A receiver running for the test, stopped after it (a request left hanging is released)."""
    receiver, server = start_receiver()
    yield receiver
    receiver.release.set()
    server.shutdown()
    server.server_close()
