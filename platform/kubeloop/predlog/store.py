"""The append-only prediction-log store: JSON-lines files per deployment, rotated by size and age.

Layout: `<logs_dir>/<deployment>/<start-ms>-<pid>-<seq>.jsonl`, one PredictionRecord per line. A file
is only ever appended to by the process named in it, so several servers can share one folder; readers
skip a torn last line left by a crash.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from kubeloop.predlog.schema import PredictionRecord

SUFFIX = ".jsonl"
DEFAULT_MAX_BYTES = 64 << 20
DEFAULT_MAX_AGE = 3600.0


_ORJSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_record(record: PredictionRecord) -> str:
    """One record as one JSON line (without the newline); NaN and infinities are stored as null.

    orjson, not json: the flusher thread holds the GIL while it encodes, and every microsecond
    there is taken from the request path.
    """
    data = {
        "request_id": record.request_id, "timestamp": record.timestamp, "deployment": record.deployment,
        "model": record.model, "version": record.version, "role": record.role,
        "inputs": [row if isinstance(row, dict) else dict(row) for row in record.inputs],
        "outputs": list(record.outputs), "status": record.status, "latency_ms": record.latency_ms,
        "extra": dict(record.extra),
    }
    return orjson.dumps(data, option=_ORJSON, default=str).decode()


def decode_record(line: str) -> PredictionRecord:
    """A record back from its JSON line; raises ValueError on a torn or foreign line."""
    return record_from_dict(orjson.loads(line))


def record_from_dict(data: Any) -> PredictionRecord:
    """A record from its decoded JSON object; raises ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("not a prediction record")
    try:
        return PredictionRecord(**data)
    except TypeError as error:
        raise ValueError(f"not a prediction record: {error}") from None


class LogStore:
    """Appends batches of records to the current file of each deployment, rotating by size and age.

    It holds its current files open: `close()` it, or use it as a context manager.
    """

    def __init__(
        self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_age: float = DEFAULT_MAX_AGE
    ) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._open: dict[str, tuple[IO[str], float]] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def write(self, records: Sequence[PredictionRecord]) -> int:
        """Append records (any deployments) and flush them to the OS; returns how many were written."""
        by_deployment: dict[str, list[str]] = {}
        for record in records:
            by_deployment.setdefault(record.deployment, []).append(encode_record(record))
        with self._lock:
            for deployment, lines in by_deployment.items():
                handle = self._handle(deployment)
                handle.write("\n".join(lines) + "\n")
                handle.flush()
        return len(records)

    def close(self) -> None:
        """Close every open file; later writes open new ones."""
        with self._lock:
            for handle, _ in self._open.values():
                handle.close()
            self._open.clear()

    def __enter__(self) -> LogStore:
        """The store itself; leaving the block closes its files."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Close every open file."""
        self.close()

    def _handle(self, deployment: str) -> IO[str]:
        current = self._open.get(deployment)
        now = time.time()
        if current is not None:
            handle, opened = current
            if handle.tell() < self.max_bytes and now - opened < self.max_age:
                return handle
            handle.close()
        folder = self.root / _safe_name(deployment)
        folder.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        path = folder / f"{int(now * 1000):015d}-{os.getpid()}-{self._seq:06d}{SUFFIX}"
        handle = path.open("a", encoding="utf-8")
        self._open[deployment] = (handle, now)
        return handle


def _safe_name(deployment: str) -> str:
    """Deployment names are DNS labels; refuse anything that could escape the logs folder."""
    if not deployment or "/" in deployment or deployment.startswith("."):
        raise ValueError(f"invalid deployment name for the log store: {deployment!r}")
    return deployment


def deployment_folder(root: Path, deployment: str) -> Path:
    """The folder of one deployment's logs (and of what is stored beside them, such as labels)."""
    return Path(root) / _safe_name(deployment)


def log_files(root: Path, deployment: str, *, since: float | None = None) -> list[Path]:
    """The deployment's log files in write order, skipping those last written before `since`."""
    folder = deployment_folder(root, deployment)
    if not folder.is_dir():
        return []
    files = sorted(folder.glob(f"*{SUFFIX}"))
    if since is None:
        return files
    return [path for path in files if path.stat().st_mtime >= since - 1.0]


def iter_records(paths: Iterable[Path]) -> Iterable[PredictionRecord]:
    """Every readable record in the files, skipping torn or foreign lines."""
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    yield decode_record(line)
                except ValueError:
                    continue
