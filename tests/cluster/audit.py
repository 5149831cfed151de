"""The API server's audit log (every request of a service account, at Metadata level), read back: who
asked for what, with which user agent, and what the server answered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeloop.devtools.cluster import ControlPlane

WRITES = ("create", "update", "patch", "delete", "deletecollection")


@dataclass(frozen=True)
class Request:
    """One audited request."""

    user: str
    agent: str
    verb: str
    group: str
    resource: str  # plural, with "/subresource" when there is one
    namespace: str
    name: str
    code: int
    at: float

    @property
    def what(self) -> str:
        """verb resource.group, as RBAC names it."""
        return f"{self.verb} {self.resource}{'.' + self.group if self.group else ''}"


def _request(event: dict[str, Any]) -> Request:
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    stamp = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
    return Request(user=event["user"]["username"], agent=event.get("userAgent", ""), verb=event["verb"],
                   group=ref.get("apiGroup", ""), resource=resource, namespace=ref.get("namespace", ""),
                   name=ref.get("name", ""), code=int((event.get("responseStatus") or {}).get("code", 0)),
                   at=stamp.timestamp())


def requests(plane: ControlPlane, *, user: str, since: float = 0.0) -> list[Request]:
    """Every completed request of `user` received at or after `since` (epoch seconds), oldest first."""
    found = []
    with plane.layout.audit_log.open() as log:
        for line in log:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete" or event["user"]["username"] != user:
                continue
            request = _request(event)
            if request.at >= since:
                found.append(request)
    return found


def forbidden(plane: ControlPlane, *, user: str, since: float = 0.0) -> list[str]:
    """What RBAC refused `user` since then, as "verb resource.group in namespace"."""
    return [f"{r.what} in {r.namespace or '(cluster)'}" for r in requests(plane, user=user, since=since)
            if r.code == 403]
