"""KServe logger payloads to prediction rows, mirroring share, and the bounded pairing buffer."""

from __future__ import annotations

import pytest

from kubeloop.serving.collector.events import Pairs, Source, input_rows, mirrored, outputs

SOURCE = Source(deployment="iris", model="iris-classifier", version="3", role="champion")


def test_v1_and_v2_requests_become_rows() -> None:
    assert input_rows({"instances": [[1, 2], [3, 4]]}) == [{"0": 1, "1": 2}, {"0": 3, "1": 4}]
    assert input_rows({"instances": [{"a": 1}]}) == [{"a": 1}]
    two_d = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    assert input_rows(two_d) == [{"0": 1, "1": 2}, {"0": 3, "1": 4}]
    columns = {
        "inputs": [{"name": "a", "shape": [2], "data": [1, 2]}, {"name": "b", "shape": [2], "data": [5, 6]}]
    }
    assert input_rows(columns) == [{"a": 1, "b": 5}, {"a": 2, "b": 6}]
    assert outputs({"predictions": [0, 1]}) == [0, 1]
    assert outputs({"outputs": [{"name": "p", "data": [2]}]}) == [2]


def test_unreadable_payloads_are_named() -> None:
    with pytest.raises(ValueError, match="instances"):
        input_rows({"rows": []})
    with pytest.raises(ValueError, match="predictions"):
        outputs({"answer": 1})
    with pytest.raises(ValueError, match="deployment, version"):
        Source.from_query({"model": "m", "role": "champion"})


def test_mirrored_share_is_close_to_the_percent_and_stable() -> None:
    ids = [f"req-{i}" for i in range(4000)]
    share = sum(mirrored(i, 25) for i in ids) / len(ids)
    assert 0.22 < share < 0.28
    assert [mirrored(i, 25) for i in ids[:50]] == [mirrored(i, 25) for i in ids[:50]]
    assert not any(mirrored(i, 0) for i in ids) and all(mirrored(i, 100) for i in ids)


def test_pairs_join_request_and_response_and_stay_bounded() -> None:
    pairs = Pairs(capacity=2, ttl=10)
    pairs.request("a", [{"0": 1}], now=100.0)
    record = pairs.response("a", [7], source=SOURCE, now=100.25)
    assert record is not None and record.inputs == [{"0": 1}] and record.outputs == [7]
    assert record.latency_ms == pytest.approx(250.0) and record.version == "3"
    assert pairs.response("a", [7], source=SOURCE, now=101) is None
    for key in "bcd":
        pairs.request(key, [], now=101.0)
    assert len(pairs) == 2 and pairs.dropped == 1
    pairs.request("e", [], now=200.0)  # c and d expired (b was dropped for room)
    assert len(pairs) == 1 and pairs.dropped == 3
