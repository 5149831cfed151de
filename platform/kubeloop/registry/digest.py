"""Content digests: the sha256 of a model artifact tree, recorded at registration, checked at load."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The hex sha256 of one file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(root: str | Path) -> str:
    """The hex sha256 of a file or a folder: each file's relative path and content, in sorted order.

    Paths are part of the digest so that renaming or moving a file inside the model changes it too.
    """
    root = Path(root)
    if root.is_file():
        return file_sha256(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file_sha256(path).encode() + b"\n")
    return digest.hexdigest()
