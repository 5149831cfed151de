"""The Open Inference Protocol's binary tensor extension, as standard clients (tritonclient) send it.

The body is a JSON header of `Inference-Header-Content-Length` bytes followed by the raw tensor
bytes, in input order, each input saying how many bytes are its own in `parameters.binary_data_size`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kubeloop.serving.core.requests import RequestError, parse_json

HEADER = "inference-header-content-length"
_DTYPES = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2", "INT64": "<i8", "INT32": "<i4", "INT16": "<i2",
           "INT8": "i1", "UINT64": "<u8", "UINT32": "<u4", "UINT16": "<u2", "UINT8": "u1", "BOOL": "?"}


def parse_binary_request(body: bytes, header_length: str, *, max_bytes: int) -> Mapping[str, Any]:
    """The request with each binary input's bytes decoded into its `data` list."""
    try:
        length = int(header_length)
    except ValueError:
        raise RequestError(f"{HEADER} must be an integer, got {header_length!r}") from None
    if not 0 < length <= len(body):
        raise RequestError(f"{HEADER} {length} does not fit a body of {len(body)} bytes")
    payload = dict(parse_json(body[:length], max_bytes=max_bytes))
    inputs = payload.get("inputs")
    if not isinstance(inputs, list):
        raise RequestError("a binary request needs 'inputs'")
    offset = length
    decoded = []
    for tensor in inputs:
        size = (tensor.get("parameters") or {}).get("binary_data_size") if isinstance(tensor, dict) else None
        if size is None:
            decoded.append(tensor)
            continue
        dtype = _DTYPES.get(str(tensor.get("datatype")))
        if dtype is None:
            raise RequestError(f"input {tensor.get('name')!r}: binary data of type "
                               f"{tensor.get('datatype')!r} is not supported")
        chunk = body[offset:offset + int(size)]
        if len(chunk) != int(size) or len(chunk) % np.dtype(dtype).itemsize:
            raise RequestError(f"input {tensor.get('name')!r}: binary_data_size {size} "
                               "does not match the body")
        offset += int(size)
        decoded.append({**tensor, "data": np.frombuffer(chunk, dtype=dtype).tolist()})
    payload["inputs"] = decoded
    return payload
