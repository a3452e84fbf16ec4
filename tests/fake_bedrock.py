"""A fake Amazon Bedrock Runtime on 127.0.0.1 for the Converse API.

moto 5 implements only InvokeModel for bedrock-runtime (and answers it with an empty body), so the
tests point a real boto3 ``bedrock-runtime`` client (``endpoint_url``) at this server instead:
the request goes through botocore's serializer and SigV4 signing, the answer through its parser.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


def tool_answer(answer: dict[str, Any], name: str = "report_service_facts") -> dict[str, Any]:
    """A Converse response in which the model calls ``name`` with ``answer``."""
    return {
        "output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "tooluse_1", "name": name, "input": answer}},
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1200, "outputTokens": 80, "totalTokens": 1280},
        "metrics": {"latencyMs": 850},
    }  # fmt: skip


class FakeBedrock:
    """Records each Converse request; answers with the queued responses, in order."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.requests.append(
                    {
                        "path": unquote(self.path),
                        "body": body,
                        "authorization": self.headers.get("Authorization", ""),
                    }
                )
                status, payload, headers = (
                    fake.responses.pop(0)
                    if fake.responses
                    else (
                        500,
                        {"message": "no response queued"},
                        {"x-amzn-ErrorType": "InternalServerException"},
                    )
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, answer: dict[str, Any]) -> None:
        self.responses.append((200, tool_answer(answer), {}))

    def fail(self, status: int, code: str, message: str) -> None:
        self.responses.append((status, {"message": message}, {"x-amzn-ErrorType": code}))

    def __enter__(self) -> FakeBedrock:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
