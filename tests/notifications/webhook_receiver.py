"""A real HTTP receiver for the webhook tests: a threading http.server on a free loopback port that records every
request and answers as the test tells it (a status, headers, a delay, a huge body)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering
    endless: bool = False  # stream body forever, without a Content-Length (a receiver answering gigabytes)
    declared_length: int | None = None  # a Content-Length to announce (with endless or drip)
    drip: str = ""  # "headers" or "body": send that part a byte at a time, one every drip_every seconds
    drip_every: float = 0.3


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []  # consumed in order; the last one repeats
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    reply = receiver.replies.pop(0) if len(receiver.replies) > 1 else (receiver.replies or [Reply()])[0]
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    if reply.drip:
                        self.drip(reply)
                        return
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.endless:
                        if reply.declared_length is not None:
                            self.send_header("Content-Length", str(reply.declared_length))
                        self.end_headers()
                        chunk = b"x" * 65536
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline:
                            self.wfile.write(chunk)
                    else:
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender cut us off, as it should

            def drip(self, reply: Reply) -> None:
                head = f"HTTP/1.0 {reply.status} OK\r\n".encode()
                if reply.declared_length is not None:
                    head += f"Content-Length: {reply.declared_length}\r\n".encode()
                head += b"X-Padding: " + b"x" * 200 + b"\r\n\r\n"
                slow, fast = (head, b"") if reply.drip == "headers" else (b"x" * 200, head)
                self.wfile.write(fast)
                self.wfile.flush()
                for byte in slow:  # each byte well within the read timeout, the whole far beyond the deadline
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(reply.drip_every)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer(self, *replies: Reply) -> None:
        with self.lock:
            self.replies = list(replies)

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)
