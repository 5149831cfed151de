"""Every version of the objects of one kind in a namespace, as a watch on the real API server sees them:
what a rollout wrote, in order, with no poll missing a short-lived state."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiClient, CustomObjectsApi
from urllib3.exceptions import ProtocolError

Summary = Callable[[dict[str, Any]], Any]


class Recorder:
    """Records `summary(object)` for each new version of each object (by name), until closed."""

    def __init__(self, client: ApiClient, *, group: str, version: str, plural: str, namespace: str,
                 summary: Summary) -> None:
        self.summary = summary
        self.versions: dict[str, list[Any]] = {}
        self.deleted: list[str] = []
        self._watch = watch.Watch()
        self._closed = threading.Event()
        listing = CustomObjectsApi(client).list_namespaced_custom_object
        self._args = (listing, group, version, namespace, plural)
        self._thread = threading.Thread(target=self._run, name=f"watch-{plural}", daemon=True)

    def _run(self) -> None:
        try:
            self._record()
        except ProtocolError:
            # A watch still open when its API server stops ends this way; only an open recorder cares.
            if not self._closed.is_set():
                raise

    def _record(self) -> None:
        list_call, *args = self._args
        for event in self._watch.stream(list_call, *args, timeout_seconds=600):
            obj = event["object"]
            name = obj["metadata"]["name"]
            if event["type"] == "DELETED":
                self.deleted.append(name)
                continue
            summary = self.summary(obj)
            history = self.versions.setdefault(name, [])
            if not history or history[-1] != summary:
                history.append(summary)

    def start(self) -> None:
        """Begin watching (from the current state)."""
        self._thread.start()

    def close(self) -> None:
        """Stop watching (the stream ends at its next event, or when the API server goes)."""
        self._closed.set()
        self._watch.stop()


@contextmanager
def recording(client: ApiClient, *, group: str, version: str, plural: str, namespace: str,
              summary: Summary) -> Iterator[Recorder]:
    """A started Recorder, stopped when the block ends."""
    recorder = Recorder(client, group=group, version=version, plural=plural, namespace=namespace,
                        summary=summary)
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.close()
