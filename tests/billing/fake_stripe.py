"""A stand-in for Stripe's HTTP API on 127.0.0.1, for tests: the real API cannot be reached from here, and
replacing it at the HTTP boundary keeps the official client's encoding, headers and error handling in play.

It records every request (path, form body, headers), answers checkout sessions and refunds with JSON shaped
like Stripe's, replays a successful answer for a repeated Idempotency-Key as Stripe does, and answers queued
errors (an error object with a 4xx/5xx status) when a test asks for them."""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str:
        return self.headers.get("idempotency-key", "")

    @property
    def api_key(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queued: deque[_Answer] = deque()
        self._replays: dict[str, _Answer] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-stripe", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, status: int, *, error_type: str, code: str = "", message: str = "", times: int = 1) -> None:
        """Answer the next `times` requests with a Stripe error object."""
        error = {"type": error_type, "message": message or f"{error_type} ({code or status})"}
        if code:
            error["code"] = code
        for _ in range(times):
            self._queued.append(_Answer(status, {"error": error}, {"Request-Id": f"req_fake_{next(self._ids)}"}))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    # --- answering -----------------------------------------------------------------------------------------

    def _answer(self, method: str, path: str, form: dict[str, str], headers: dict[str, str]) -> _Answer:
        with self._lock:
            self.requests.append(RecordedRequest(method=method, path=path, form=form, headers=headers))
            key = headers.get("idempotency-key", "")
            if key in self._replays:
                return self._replays[key]
            answer = self._queued.popleft() if self._queued else self._default(method, path, form)
            if key and 200 <= answer.status < 300:
                self._replays[key] = answer
            return answer

    def _default(self, method: str, path: str, form: dict[str, str]) -> _Answer:
        number = next(self._ids)
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            quantity = int(form.get("line_items[0][quantity]", "1"))
            session_id = f"cs_test_fake{number}"
            return _Answer(
                200,
                {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": form.get("mode"),
                    "status": "open",
                    "payment_status": "unpaid",
                    "amount_total": int(form.get("line_items[0][price_data][unit_amount]", "0")) * quantity,
                    "currency": form.get("line_items[0][price_data][currency]"),
                    "client_reference_id": form.get("client_reference_id"),
                    "metadata": {
                        name.removeprefix("metadata[").removesuffix("]"): value
                        for name, value in form.items()
                        if name.startswith("metadata[")
                    },
                    "success_url": form.get("success_url"),
                    "cancel_url": form.get("cancel_url"),
                    "payment_intent": None,
                    "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                },
            )
        if (method, path) == ("POST", "/v1/refunds"):
            return _Answer(
                200,
                {
                    "id": f"re_test_fake{number}",
                    "object": "refund",
                    "amount": int(form.get("amount", "0")),
                    "payment_intent": form.get("payment_intent"),
                    "charge": form.get("charge"),
                    "status": "succeeded",
                },
            )
        return _Answer(
            404,
            {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method}: {path})."}},
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                form = dict(parse_qsl(body or query, keep_blank_values=True))
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = fake._answer(self.command, path, form, headers)
                encoded = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(encoded)

            do_GET = do_POST = do_DELETE = _respond  # noqa: N815 - the names http.server dispatches to

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
