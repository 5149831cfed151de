"""A recording KFP v2beta1 API server on loopback: experiments and runs, enough for `kfp.Client`."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class KfpState:
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    states: list[str] = field(default_factory=lambda: ["RUNNING", "SUCCEEDED"])


class FakeKfp:
    def __init__(self) -> None:
        self.state = KfpState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKfp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        state = self.state

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

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                state.requests.append(("GET", self.path, None))
                if path == "/apis/v2beta1/healthz":
                    return self._send(200, {"multi_user": False})
                if path == "/apis/v2beta1/experiments":
                    return self._send(
                        200,
                        {
                            "experiments": list(state.experiments.values()),
                            "total_size": len(state.experiments),
                        },
                    )
                if path.startswith("/apis/v2beta1/runs/"):
                    run = state.runs.get(path.rsplit("/", 1)[1])
                    if run is None:
                        return self._send(404, {"error": "run not found", "code": 5})
                    run["state"] = state.states.pop(0) if len(state.states) > 1 else state.states[0]
                    return self._send(200, run)
                self._send(404, {"error": f"no route {path}"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                state.requests.append(("POST", self.path, body))
                if self.path == "/apis/v2beta1/experiments":
                    experiment = {**body, "experiment_id": f"exp-{len(state.experiments) + 1}"}
                    state.experiments[experiment["experiment_id"]] = experiment
                    return self._send(200, experiment)
                if self.path == "/apis/v2beta1/runs":
                    run = {**body, "run_id": f"run-{len(state.runs) + 1}", "state": "PENDING"}
                    state.runs[run["run_id"]] = run
                    return self._send(200, run)
                self._send(404, {"error": f"no route {self.path}"})

        return Handler
