"""Prediction logs: every answered request, recorded off the request path and read back for analysis.

Writers: `with LogStore(settings.logs_dir) as store: store.write(records)` appends synchronously;
servers put a `PredictionLogger` (bounded queue, batch flush, drops counted) in front of it and of a
`CloudEventsSink`.
Readers: `read_predictions(settings, deployment, version=None, role=None, since=None, until=None)`.
"""

from kubeloop.predlog.cloudevents import CloudEventsSink, records_from_http
from kubeloop.predlog.logger import PredictionLogger
from kubeloop.predlog.reader import read_predictions, records_frame
from kubeloop.predlog.schema import PredictionRecord
from kubeloop.predlog.store import LogStore

__all__ = [
    "CloudEventsSink",
    "LogStore",
    "PredictionLogger",
    "PredictionRecord",
    "read_predictions",
    "records_frame",
    "records_from_http",
]
