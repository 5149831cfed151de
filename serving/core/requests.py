"""Request parsing and validation against the model signature: V1 instances, V2 tensors, JSON records.

Every accepted format becomes the same thing, a list of rows in signature column order, each value
checked against its column's type. Anything else is a RequestError naming the problem, which the
servers answer with a 4xx JSON body.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

NUMBER, INTEGER, BOOLEAN, STRING = "number", "integer", "boolean", "string"
_KINDS = {"double": NUMBER, "float": NUMBER, "long": INTEGER, "integer": INTEGER,
          "boolean": BOOLEAN, "string": STRING}
_V2_TYPES = {NUMBER: "FP64", INTEGER: "INT64", BOOLEAN: "BOOL", STRING: "BYTES"}
_META_KEYS = {"id", "parameters", "outputs"}


class RequestError(Exception):
    """A request the model cannot answer; `status` is the HTTP code, the message names the problem."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Column:
    """One input column of the signature: its name and value kind (number, integer, boolean, string)."""

    name: str
    kind: str

    @classmethod
    def from_mlflow(cls, name: str, type_name: str) -> Column:
        """A column from an MLflow ColSpec's name and type name."""
        if type_name not in _KINDS:
            raise ValueError(f"column {name!r}: unsupported signature type {type_name!r}")
        return cls(name=name, kind=_KINDS[type_name])

    @property
    def v2_datatype(self) -> str:
        """The Open Inference Protocol datatype of the column."""
        return _V2_TYPES[self.kind]


def new_request_id() -> str:
    """A random 128-bit hex id; from the PRNG, because os.urandom is a system call per request."""
    return f"{random.getrandbits(128):032x}"


def parse_json(body: bytes, *, max_bytes: int) -> Mapping[str, Any]:
    """The JSON object in a request body, refusing oversize bodies, bad JSON and non-objects."""
    if len(body) > max_bytes:
        raise RequestError(f"request body of {len(body)} bytes exceeds the limit of {max_bytes}", status=413)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        # The strict parser refuses NaN/Infinity tokens; read them so the error can name the value.
        try:
            payload = json.loads(body)
        except ValueError:
            raise RequestError(f"malformed JSON: {error}") from None
    if not isinstance(payload, dict):
        raise RequestError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def parse_rows(payload: Mapping[str, Any], columns: Sequence[Column], *, max_rows: int) -> list[list[Any]]:
    """Rows in column order from any accepted format, every value checked; RequestError otherwise."""
    keys = set(payload) - _META_KEYS
    if len(keys) != 1:
        expected = "one of 'instances', 'inputs', 'dataframe_records', 'records', 'dataframe_split'"
        raise RequestError(f"expected {expected}, got keys {sorted(payload)}")
    key = keys.pop()
    data = payload[key]
    if key == "instances":
        rows = _instances(data, columns)
    elif key == "inputs":
        rows = _v2_inputs(data, columns)
    elif key in ("dataframe_records", "records"):
        rows = _records(_list(data, key), columns)
    elif key == "dataframe_split":
        rows = _split(data, columns)
    else:
        raise RequestError(f"unknown request field {key!r}")
    if not rows:
        raise RequestError("empty batch: send at least one row")
    if len(rows) > max_rows:
        raise RequestError(f"batch of {len(rows)} rows exceeds the limit of {max_rows}", status=413)
    for index, row in enumerate(rows):
        for column, value in zip(columns, row, strict=True):
            _check_value(value, column, index)
    return rows


def _list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise RequestError(f"'{what}' must be a list, got {type(data).__name__}")
    return data


def _instances(data: Any, columns: Sequence[Column]) -> list[list[Any]]:
    items = _list(data, "instances")
    if items and all(isinstance(item, dict) for item in items):
        return _records(items, columns)
    width = len(columns)
    for index, item in enumerate(items):
        if not isinstance(item, list):
            raise RequestError(f"instance {index}: expected a list of {width} values or an object")
        if len(item) != width:
            raise RequestError(f"instance {index}: expected {width} values "
                               f"({', '.join(c.name for c in columns)}), got {len(item)}")
    return items


def _records(items: list[Any], columns: Sequence[Column]) -> list[list[Any]]:
    names = [c.name for c in columns]
    expected = set(names)
    rows = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(f"record {index}: expected an object keyed by column name")
        if item.keys() != expected:
            _name_mismatch(f"record {index}", item.keys(), expected)
        rows.append([item[name] for name in names])
    return rows


def _name_mismatch(where: str, got: Any, expected: set[str]) -> None:
    missing, extra = sorted(expected - set(got)), sorted(set(got) - expected)
    parts = [f"missing columns {missing}"] if missing else []
    parts += [f"unknown columns {extra}"] if extra else []
    raise RequestError(f"{where}: {'; '.join(parts)}")


def _split(data: Any, columns: Sequence[Column]) -> list[list[Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        raise RequestError("'dataframe_split' must be an object with 'columns' and 'data'")
    names = data["columns"]
    if set(names) != {c.name for c in columns} or len(names) != len(columns):
        _name_mismatch("dataframe_split", names, {c.name for c in columns})
    order = [names.index(c.name) for c in columns]
    rows = _list(data.get("data"), "dataframe_split.data")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise RequestError(f"dataframe_split row {index}: expected {len(names)} values")
    return [[row[i] for i in order] for row in rows]


def _v2_inputs(data: Any, columns: Sequence[Column]) -> list[list[Any]]:
    tensors = _list(data, "inputs")
    if not tensors:
        raise RequestError("empty batch: 'inputs' holds no tensor")
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not {"name", "shape", "data"} <= tensor.keys():
            raise RequestError(f"inputs[{index}]: a V2 tensor needs 'name', 'shape', 'datatype' and 'data'")
        shape = tensor["shape"]
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise RequestError(f"input {tensor['name']!r}: shape must be a list of non-negative integers")
    names = {c.name for c in columns}
    if len(tensors) == 1 and tensors[0]["name"] not in names:
        return _v2_matrix(tensors[0], columns)
    by_name = {t["name"]: t for t in tensors}
    if by_name.keys() != names or len(tensors) != len(columns):
        _name_mismatch("inputs", [t["name"] for t in tensors], names)
    values = [_flat(by_name[c.name]) for c in columns]
    counts = {len(v) for v in values}
    if len(counts) != 1:
        raise RequestError(f"per-column inputs have different lengths {sorted(counts)}")
    for column in columns:
        shape = by_name[column.name]["shape"]
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise RequestError(f"input {column.name!r}: shape must be [n] or [n, 1], got {shape}")
    return [list(row) for row in zip(*values, strict=True)]


def _v2_matrix(tensor: Mapping[str, Any], columns: Sequence[Column]) -> list[list[Any]]:
    shape, width = tensor["shape"], len(columns)
    if len(shape) != 2 or shape[1] != width:
        raise RequestError(f"input {tensor['name']!r}: shape must be [n, {width}] "
                           f"({', '.join(c.name for c in columns)}), got {shape}")
    values = _flat(tensor)
    return [values[i:i + width] for i in range(0, len(values), width)]


def _flat(tensor: Mapping[str, Any]) -> list[Any]:
    data = tensor["data"]
    if not isinstance(data, list):
        raise RequestError(f"input {tensor['name']!r}: data must be a list")
    if data and isinstance(data[0], list):
        data = [value for row in data for value in (row if isinstance(row, list) else [row])]
    expected = math.prod(tensor["shape"])
    if len(data) != expected:
        raise RequestError(f"input {tensor['name']!r}: shape {tensor['shape']} needs {expected} values, "
                           f"got {len(data)}")
    return data


def _check_value(value: Any, column: Column, row: int) -> None:
    kind = column.kind
    kind_of = type(value)
    if kind == NUMBER and kind_of is float:
        if not math.isfinite(value):
            raise RequestError(f"row {row}, column {column.name!r}: {value} is not allowed")
        return
    if kind in (NUMBER, INTEGER) and kind_of is int:
        return
    if (kind == BOOLEAN and kind_of is bool) or (kind == STRING and kind_of is str):
        return
    if kind == INTEGER and kind_of is float and value.is_integer():
        return
    shown = "null" if value is None else f"{kind_of.__name__} {value!r}"[:60]
    raise RequestError(f"row {row}, column {column.name!r}: expected {kind}, got {shown}")
