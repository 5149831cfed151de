"""Recycling BentoML workers: one that served `max_requests` (with jitter) or grew past `max_rss_mb`
exits gracefully and BentoML's arbiter (circus) starts a fresh one, the usual cure for slow growth
(gunicorn's `max_requests`).

Never two at once and never the last: a worker recycles only while another worker of the same server
is serving, so requests are neither refused nor left waiting in the listen backlog while a new worker
loads its model (circus notices an exit only every 10 s in BentoML, and loading takes seconds more).
Serving workers keep a `ready-<pid>` marker in a folder of their server; the one recycling holds
`recycle.lock` until its process is gone. That is why recycling needs at least two workers.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

# Resident memory is read every this many requests (about 20 µs each time).
CHECK_EVERY = 64


@dataclass(frozen=True, kw_only=True)
class RecyclePolicy:
    """When a worker is replaced: after `max_requests` (0: never) or above `max_rss_mb` (0: never)."""

    max_requests: int = 0
    max_rss_mb: int = 0
    jitter: float = 0.1

    @property
    def enabled(self) -> bool:
        """True when either limit is set."""
        return self.max_requests > 0 or self.max_rss_mb > 0

    def check(self, *, workers: int) -> None:
        """ValueError naming the settings when recycling is asked of a single worker."""
        if self.enabled and workers < 2:
            raise ValueError("KUBELOOP_SERVE_MAX_REQUESTS / KUBELOOP_SERVE_MAX_RSS_MB need "
                             f"KUBELOOP_SERVE_WORKERS >= 2 (got {workers}): another worker must serve "
                             "while one is replaced")


def recycle_reason(policy: RecyclePolicy, *, served: int, limit: int, rss_mb: float | None) -> str | None:
    """Why this worker should be replaced now, or None (pure)."""
    if policy.max_requests and served >= limit:
        return f"served {served} requests (limit {limit})"
    if policy.max_rss_mb and rss_mb is not None and rss_mb > policy.max_rss_mb:
        return f"resident memory {rss_mb:.0f} MB over {policy.max_rss_mb} MB"
    return None


class Recycler:
    """Counts this worker's requests and, when its policy says so, starts its graceful exit."""

    def __init__(self, policy: RecyclePolicy, *, server_key: str) -> None:
        self.policy, self.served, self.reason = policy, 0, ""
        spread = int(policy.max_requests * policy.jitter)
        self.limit = policy.max_requests + random.randint(0, spread) if policy.max_requests else 0
        self.folder = Path(tempfile.gettempdir()) / f"kubeloop-bento-{server_key}-{os.getppid()}"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        self._marker = self.folder / f"ready-{os.getpid()}"
        self._marker.touch()
        self._process = psutil.Process()
        self._lock: IO[str] | None = None

    def note_request(self) -> None:
        """Count one answered request; begin recycling when due and another worker serves."""
        self.served += 1
        if self._lock is not None or not self.policy.enabled or self.served % CHECK_EVERY:
            return
        rss = self._process.memory_info().rss / 1e6 if self.policy.max_rss_mb else None
        reason = recycle_reason(self.policy, served=self.served, limit=self.limit, rss_mb=rss)
        if reason is not None and self._claim():
            self.reason = reason
            print(f"kubeloop: recycling this worker: {reason}", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn finishes in-flight requests, then exits

    def close(self) -> None:
        """Remove this worker's ready marker (it no longer serves)."""
        self._marker.unlink(missing_ok=True)

    def _claim(self) -> bool:
        """Take the recycling turn when no other worker holds it and another one serves."""
        handle = (self.folder / "recycle.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        if not self._others_serving():
            handle.close()
            return False
        self.close()
        self._lock = handle  # held until this process exits
        return True

    def _others_serving(self) -> bool:
        parent = os.getppid()
        for marker in self.folder.glob("ready-*"):
            pid = int(marker.name.removeprefix("ready-"))
            if pid != os.getpid() and _worker_of(pid, parent):
                return True
        return False


def _worker_of(pid: int, parent: int) -> bool:
    try:
        process = psutil.Process(pid)
        return bool(process.ppid() == parent and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
