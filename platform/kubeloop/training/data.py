"""Reading training data (CSV or Parquet, a path or a URI), the default dataset, and the data digest."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kubeloop.errors import KubeloopError

DEFAULT_DATASET = "iris.csv"
DEFAULT_TARGET = "target"
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class DataError(KubeloopError):
    """The data source could not be read."""


def default_dataset(home: Path) -> Path:
    """scikit-learn's iris table as a CSV under KUBELOOP_HOME/datasets (written once), target 'target'."""
    path = home / "datasets" / DEFAULT_DATASET
    if not path.exists():
        from sklearn.datasets import load_iris

        frame = load_iris(as_frame=True).frame
        frame.columns = [c.replace(" (cm)", "_cm").replace(" ", "_") for c in frame.columns]
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        frame.to_csv(scratch, index=False)
        scratch.replace(path)  # atomic, so concurrent first runs never read half a file
    return path


def source_format(source: str) -> str:
    """'csv' or 'parquet' from the path's suffix (a trailing .gz is allowed for CSV)."""
    path = urlparse(source).path if "://" in source else source
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    kind = _FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise DataError(f"data: {source!r} is neither .csv nor .parquet")
    return kind


def check_source(source: str) -> None:
    """Fail early on a local file that does not exist or a format we cannot read."""
    kind = source_format(source)
    if "://" in source and not source.startswith("file://"):
        return
    path = Path(urlparse(source).path if source.startswith("file://") else source)
    if not path.is_file():
        raise DataError(f"data: file not found: {path}")
    if kind == "csv" and path.stat().st_size == 0:
        raise DataError(f"data: {path} is empty")


def load_table(source: str) -> Any:
    """Read a CSV or Parquet file (path, file:// or http(s):// URI) into a DataFrame with str columns."""
    import pandas as pd

    check_source(source)
    try:
        if source_format(source) == "csv":
            frame = pd.read_csv(source)
        else:
            frame = pd.read_parquet(source)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"data: cannot read {source}: {str(error).splitlines()[0]}") from error
    frame.columns = [str(c) for c in frame.columns]
    return frame


def data_digest(frame: Any) -> str:
    """A sha256 of the table's columns, dtypes and values, independent of the file format."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
