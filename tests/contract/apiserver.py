"""A recording Kubernetes API server on loopback: enough of the REST semantics for the real clients.

Stores objects by path; GET, POST (create), PATCH (merge patch), PUT (replace, optimistic concurrency on
resourceVersion), DELETE. Every request is recorded with its method, path, content type and body, and
failures can be queued for a path (for example one 409 Conflict) to test retries.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    content_type: str
    body: Any


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeApiServer:
    """Objects by path under known API groups; unknown collections answer 404 like a missing CRD."""

    def __init__(self, *, groups: tuple[str, ...] = ()) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.failures: dict[tuple[str, str], deque[int]] = defaultdict(deque)
        self.groups = groups
        self.version = 0
        self.conflicts = 0  # PUTs refused because their resourceVersion was not the object's any more
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, path: str, status: int, times: int = 1) -> None:
        self.failures[(method, path)].extend([status] * times)

    def put_object(self, path: str, obj: dict[str, Any]) -> None:
        with self.lock:
            self.version += 1
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.version)
            obj["metadata"].setdefault("uid", f"uid-{self.version}")
            obj["metadata"].setdefault("generation", 1)
            self.objects[path] = obj

    def writes(self, path_part: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET" and path_part in r.path]

    def _known(self, path: str) -> bool:
        return (
            not self.groups
            or any(f"/apis/{group}/" in path for group in self.groups)
            or path.startswith("/api/v1/")
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str) -> None:
                self._send(
                    code,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": reason,
                        "code": code,
                        "message": reason,
                    },
                )

            def _handle(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                body = self._body() if method in ("POST", "PUT", "PATCH") else None
                server.requests.append(Recorded(method, path, self.headers.get("Content-Type", ""), body))
                queued = server.failures.get((method, path))
                if queued:
                    return self._status(queued.popleft(), "Injected")
                if not server._known(path):
                    return self._status(404, "NotFound")
                if method == "GET" and path not in server.objects and self._is_collection(path):
                    return self._list(path)
                getattr(self, f"_do_{method.lower()}")(path, body)

            def _is_collection(self, path: str) -> bool:
                # /apis/<group>/<version>/namespaces/<namespace>/<plural>
                return path.startswith("/apis/") and len(path.strip("/").split("/")) == 6

            def _list(self, path: str) -> None:
                query = parse_qs(urlsplit(self.path).query)
                wanted = dict(s.split("=", 1) for s in query.get("labelSelector", [""])[0].split(",") if s)
                items = [
                    obj
                    for key, obj in sorted(server.objects.items())
                    if key.rsplit("/", 1)[0] == path
                    and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
                ]
                self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items})

            def _do_get(self, path: str, _: Any) -> None:
                obj = server.objects.get(path)
                if obj is None:
                    return self._status(404, "NotFound")
                self._send(200, obj)

            def _do_post(self, path: str, body: Any) -> None:
                target = f"{path}/{body['metadata']['name']}"
                if target in server.objects:
                    return self._status(409, "AlreadyExists")
                server.put_object(target, body)
                self._send(201, server.objects[target])

            def _object_path(self, path: str) -> tuple[str, bool]:
                return (path.removesuffix("/status"), True) if path.endswith("/status") else (path, False)

            def _do_patch(self, path: str, body: Any) -> None:
                target, _ = self._object_path(path)
                if target not in server.objects:
                    return self._status(404, "NotFound")
                server.put_object(target, merge_patch(server.objects[target], body))
                self._send(200, server.objects[target])

            def _do_put(self, path: str, body: Any) -> None:
                target, status_only = self._object_path(path)
                current = server.objects.get(target)
                if current is None:
                    return self._status(404, "NotFound")
                if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                    server.conflicts += 1
                    return self._status(409, "Conflict")
                new = {**current, "status": body.get("status")} if status_only else body
                server.put_object(target, new)
                self._send(200, server.objects[target])

            def _do_delete(self, path: str, _: Any) -> None:
                if server.objects.pop(path, None) is None:
                    return self._status(404, "NotFound")
                self._send(200, {"kind": "Status", "status": "Success"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        return Handler
