"""Request parsing: every accepted format gives the same rows; every bad input is a 4xx naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeloop.serving.core.requests import Column, RequestError, parse_json, parse_rows

COLUMNS = (Column(name="a", kind="number"), Column(name="b", kind="integer"),
           Column(name="c", kind="string"), Column(name="d", kind="boolean"))
ROWS = [[1.5, 2, "x", True], [0.0, -1, "y", False]]


def parse(payload: Any, *, max_rows: int = 100) -> list[list[Any]]:
    return parse_rows(payload, COLUMNS, max_rows=max_rows)


@pytest.mark.parametrize("payload", [
    {"instances": ROWS},
    {"instances": [dict(zip("abcd", row, strict=True)) for row in ROWS]},
    {"dataframe_records": [dict(zip("abcd", row, strict=True)) for row in ROWS]},
    {"records": [dict(zip("abcd", row, strict=True)) for row in ROWS]},
    {"dataframe_split": {"columns": ["d", "c", "b", "a"], "data": [row[::-1] for row in ROWS]}},
    {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "BYTES", "data": ROWS}]},
    {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "BYTES",
                 "data": [v for row in ROWS for v in row]}]},
    {"inputs": [{"name": name, "shape": [2], "datatype": "BYTES", "data": [row[i] for row in ROWS]}
                for i, name in enumerate("abcd")], "id": "r1", "parameters": {}},
    {"inputs": [{"name": name, "shape": [2, 1], "datatype": "BYTES", "data": [row[i] for row in ROWS]}
                for i, name in reversed(list(enumerate("abcd")))]},
])
def test_every_format_gives_the_same_rows(payload: Any) -> None:
    assert parse(payload) == ROWS


@pytest.mark.parametrize(("payload", "message"), [
    ({}, "expected one of 'instances'"),
    ({"instances": [], "inputs": []}, "expected one of"),
    ({"instances": []}, "empty batch"),
    ({"inputs": []}, "empty batch"),
    ({"instances": {"a": 1}}, "must be a list"),
    ({"instances": [[1.0, 2, "x"]]}, "expected 4 values"),
    ({"instances": ["abc"]}, "instance 0"),
    ({"records": [{"a": 1.0, "b": 2, "c": "x"}]}, "missing columns ['d']"),
    ({"records": [{"a": 1.0, "b": 2, "c": "x", "d": True, "e": 1}]}, "unknown columns ['e']"),
    ({"records": [[1]]}, "record 0"),
    ({"instances": [["1.5", 2, "x", True]]}, "column 'a': expected number, got str"),
    ({"instances": [[1.5, 2.5, "x", True]]}, "column 'b': expected integer"),
    ({"instances": [[1.5, 2, 3, True]]}, "column 'c': expected string"),
    ({"instances": [[1.5, 2, "x", 1]]}, "column 'd': expected boolean"),
    ({"instances": [[True, 2, "x", True]]}, "column 'a': expected number, got bool"),
    ({"instances": [[None, 2, "x", True]]}, "column 'a': expected number, got null"),
    ({"instances": [[float("nan"), 2, "x", True]]}, "nan is not allowed"),
    ({"instances": [[float("inf"), 2, "x", True]]}, "inf is not allowed"),
    ({"inputs": [{"name": "m", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]},
     "shape must be [n, 4]"),
    ({"inputs": [{"name": "m", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}]}, "needs 4 values"),
    ({"inputs": [{"name": "m", "shape": "x", "data": []}]}, "shape must be a list"),
    ({"inputs": [{"name": "a", "shape": [1], "data": [1.0]}, {"name": "b", "shape": [1], "data": [1]}]},
     "missing columns ['c', 'd']"),
    ({"inputs": [{"data": []}]}, "a V2 tensor needs"),
    ({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}, "missing columns"),
    ({"other": 1}, "unknown request field 'other'"),
])
def test_bad_payloads_are_named(payload: Any, message: str) -> None:
    with pytest.raises(RequestError) as raised:
        parse(payload)
    assert message in str(raised.value)
    assert raised.value.status == 400


def test_too_many_rows_and_too_large_bodies_are_413() -> None:
    with pytest.raises(RequestError, match="exceeds the limit of 1") as raised:
        parse({"instances": ROWS}, max_rows=1)
    assert raised.value.status == 413
    with pytest.raises(RequestError, match="exceeds the limit of 10") as raised:
        parse_json(b'{"instances": [[1, 2, 3, 4]]}', max_bytes=10)
    assert raised.value.status == 413


@pytest.mark.parametrize(("body", "message"), [
    (b"{nope", "malformed JSON"),
    (b"[1, 2]", "expected a JSON object, got list"),
    (b'{"instances": [[NaN, 1, "x", true]]}', None),
])
def test_json_errors(body: bytes, message: str | None) -> None:
    if message is None:
        payload = parse_json(body, max_bytes=1000)
        with pytest.raises(RequestError, match="nan is not allowed"):
            parse(payload)
        return
    with pytest.raises(RequestError, match=message):
        parse_json(body, max_bytes=1000)


def test_integral_floats_are_accepted_for_integer_columns() -> None:
    assert parse({"instances": [[1, 2.0, "x", False]]}) == [[1, 2.0, "x", False]]


def test_unsupported_signature_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported signature type"):
        Column.from_mlflow("t", "datetime")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


KEYS = st.sampled_from(["instances", "inputs", "records", "dataframe_split", "id", "x"])


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(KEYS, json_values, max_size=3))
def test_fuzzed_payloads_either_parse_or_raise_request_error(payload: dict[str, Any]) -> None:
    try:
        rows = parse_rows(parse_json(json.dumps(payload).encode(), max_bytes=1 << 20), COLUMNS, max_rows=100)
    except RequestError as error:
        assert 400 <= error.status < 500
        assert str(error)
    else:
        assert rows and all(len(row) == len(COLUMNS) for row in rows)


def test_binary_tensor_extension_is_decoded() -> None:
    import numpy as np

    from kubeloop.serving.core.binary import parse_binary_request

    data = np.array([[1.5, 2.0], [3.0, 4.0]])
    header = json.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64",
                                     "parameters": {"binary_data_size": data.nbytes}}]}).encode()
    payload = parse_binary_request(header + data.tobytes(), str(len(header)), max_bytes=1 << 20)
    assert payload["inputs"][0]["data"] == [1.5, 2.0, 3.0, 4.0]
    with pytest.raises(RequestError, match="does not match the body"):
        parse_binary_request(header + data.tobytes()[:-3], str(len(header)), max_bytes=1 << 20)
    with pytest.raises(RequestError, match="must be an integer"):
        parse_binary_request(header, "x", max_bytes=1 << 20)
    with pytest.raises(RequestError, match="does not fit"):
        parse_binary_request(header, "99999", max_bytes=1 << 20)
