"""A recording Argo Server API on loopback: create and get workflows, enough for the argo_workflows client."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeArgo:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.workflows: dict[str, dict] = {}
        self.phases = ["Running", "Succeeded"]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeArgo:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests.append(("POST", self.path, body))
                workflow = body["workflow"]
                name = f"{workflow['metadata']['generateName']}{len(fake.workflows) + 1:05d}"
                workflow = {**workflow, "metadata": {**workflow["metadata"], "name": name}}
                fake.workflows[name] = workflow
                self._send(200, workflow)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, None))
                name = self.path.split("?", 1)[0].rsplit("/", 1)[1]
                workflow = fake.workflows.get(name)
                if workflow is None:
                    return self._send(
                        404, {"code": 5, "message": f"workflows.argoproj.io {name!r} not found"}
                    )
                phase = fake.phases.pop(0) if len(fake.phases) > 1 else fake.phases[0]
                outputs = {"parameters": [{"name": "outcome", "value": json.dumps({"version": "7"})}]}
                workflow["status"] = {"phase": phase, "nodes": {name: {"outputs": outputs}}}
                self._send(200, workflow)

        return Handler
