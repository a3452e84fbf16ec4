"""A loopback proxy in front of moto's server that fails chosen AWS calls the way AWS and the
network do: throttling, a 5xx from the service or from a front end, a connection dropped without
an answer, an access-denied answer, and (by stopping the proxy) a refused connection.

Only 127.0.0.1 is ever contacted. Requests are matched by their AWS JSON-protocol operation
(``X-Amz-Target: CodeDeploy_20141006.GetDeployment`` -> ``GetDeployment``); everything without an
injected fault is forwarded to moto unchanged.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

JSON_11 = "application/x-amz-json-1.1"

# fault -> (HTTP status, content type, body); "drop" has no answer at all.
ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "throttle": (400, JSON_11, json.dumps({"__type": "ThrottlingException",
                                           "message": "Rate exceeded"}).encode()),
    "unavailable": (503, JSON_11, json.dumps({"__type": "ServiceUnavailableException",
                                              "message": "Service Unavailable"}).encode()),
    "bad_gateway": (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "denied": (400, JSON_11, json.dumps({
        "__type": "AccessDeniedException",
        "message": "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to "
                   "perform: codedeploy:GetDeployment",
    }).encode()),
}  # fmt: skip
FAULTS = (*ANSWERS, "drop")


class FaultProxy:
    """``fail("GetDeployment", "throttle", "drop")`` queues faults for that operation's next
    calls; :attr:`calls` records every call as ``(operation, fault or "forwarded")``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.port = 0
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.calls: list[tuple[str, str]] = []
        self.credential_scopes: list[str] = []
        """``<access key id>/<date>/<region>/<service>/aws4_request`` of every signed call."""
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, operation: str, *faults: str) -> None:
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; expected one of {FAULTS}")
        with self._lock:
            self.faults[operation].extend(faults)

    def start(self) -> FaultProxy:
        """Listens (again) on the same port: after :meth:`stop`, calls are refused until then."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection, so a stopped proxy refuses the next call
            # instead of a kept-alive connection carrying it.
            protocol_version = "HTTP/1.0"

            def log_message(self, *_args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or "").rsplit(".", 1)[-1]
                auth = self.headers.get("Authorization") or ""
                scope = auth.split("Credential=", 1)[-1].split(",", 1)[0] if auth else ""
                with proxy._lock:
                    proxy.credential_scopes.append(scope)
                    queue = proxy.faults.get(operation)
                    fault = queue.popleft() if queue else None
                    proxy.calls.append((operation, fault or "forwarded"))
                if fault == "drop":
                    # Close without a byte of answer: the client sees the connection end.
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")  # fmt: skip
                    self.connection.close()
                    return
                if fault is not None:
                    status, ctype, payload = ANSWERS[fault]
                    self._answer(status, ctype, payload, {"x-amzn-RequestId": "fault-injected"})
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request("POST", self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                passthrough = {k: v for k, v in response.getheaders()
                               if k.lower() not in ("content-length", "transfer-encoding",
                                                    "connection", "content-type")}  # fmt: skip
                self._answer(response.status, response.getheader("Content-Type") or JSON_11,
                             payload, passthrough)  # fmt: skip
                upstream.close()

            def _answer(self, status: int, ctype: str, payload: bytes,
                        headers: dict[str, str]) -> None:  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def operations(self, operation: str) -> list[str]:
        """The outcomes of every call of ``operation`` so far."""
        with self._lock:
            return [outcome for op, outcome in self.calls if op == operation]
