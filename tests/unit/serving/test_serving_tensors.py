"""Tensor signatures: V2 and V1 requests become rows with the signature's dtypes; bad ones name the input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kubeloop.serving.core.prediction import Prediction
from kubeloop.serving.core.requests import RequestError
from kubeloop.serving.core.tensors import TensorInput, parse_tensor_rows, stack, tensor_inputs

IMAGE = TensorInput(name="image", dtype="float32", shape=(-1, 2, 2))
MASK = TensorInput(name="mask", dtype="bool", shape=(-1, 2))
UNNAMED = TensorInput(name=None, dtype="int64", shape=(-1, 3))
IMAGES = [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]
MASKS = [[True, False], [False, True]]


def v2(name: str, datatype: str, shape: list[int], data: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def test_v2_tensors_and_v1_instances_give_the_same_rows_and_arrays() -> None:
    flat = [v for image in IMAGES for row in image for v in row]
    by_v2 = parse_tensor_rows({"inputs": [v2("mask", "BOOL", [2, 2], [True, False, False, True]),
                                          v2("image", "FP32", [2, 2, 2], flat)]}, (IMAGE, MASK), max_rows=10)
    by_v1 = parse_tensor_rows({"instances": [{"image": i, "mask": m} for i, m in zip(IMAGES, MASKS,
                                                                                    strict=True)]},
                              (IMAGE, MASK), max_rows=10)
    assert by_v2 == by_v1 == [[IMAGES[0], MASKS[0]], [IMAGES[1], MASKS[1]]]
    images, masks = stack(by_v2, (IMAGE, MASK))
    assert images.dtype == np.float32 and images.shape == (2, 2, 2) and masks.dtype == np.bool_


def test_an_unnamed_tensor_takes_any_name_and_plain_instances() -> None:
    rows = parse_tensor_rows({"inputs": [v2("input-0", "INT64", [1, 3], [1, 2, 3])]}, (UNNAMED,), max_rows=10)
    assert rows == parse_tensor_rows({"instances": [[1, 2, 3]]}, (UNNAMED,), max_rows=10) == [[[1, 2, 3]]]


@pytest.mark.parametrize(("payload", "message"), [
    ({"inputs": [v2("image", "INT64", [1, 2, 2], [1, 2, 3, 4])]}, "datatype 'INT64', the model takes FP32"),
    ({"inputs": [v2("image", "FP32", [1, 4], [1.0, 2.0, 3.0, 4.0])]}, "shape [1, 4], the model takes [n, 2"),
    ({"inputs": [v2("image", "FP32", [1, 2, 2], [1.0, 2.0, 3.0])]}, "needs 4 values, got 3"),
    ({"inputs": [v2("picture", "FP32", [1, 2, 2], [1.0, 2.0, 3.0, 4.0])]}, "missing ['image'], unknown"),
    ({"inputs": [v2("image", "FP32", [1, 2, 2], [1.0, "x", 3.0, 4.0])]}, "expected numbers (FP32)"),
    ({"inputs": [v2("image", "FP32", [1, 2, 2], [1.0, float("nan"), 3.0, 4.0])]}, "NaN or infinity"),
    ({"instances": [[[1.0, 2.0], [3.0]]]}, "shape [1, 2], the model takes [n, 2, 2]"),
    ({"inputs": [v2("image", "FP32", [0, 2, 2], [])]}, "empty batch"),
    ({"instances": [IMAGES[0]] * 11}, "exceeds the limit of 10"),
    ({"dataframe_records": []}, "a tensor model takes 'inputs' (V2) or 'instances' (V1)"),
])
def test_a_bad_tensor_request_names_the_input_and_the_problem(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse_tensor_rows(payload, (IMAGE,), max_rows=10)
    assert message in str(refused.value), str(refused.value)


def test_signature_entries_become_tensor_inputs() -> None:
    specs = [{"type": "tensor", "name": "X", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}},
             {"type": "tensor", "name": "text", "tensor-spec": {"dtype": "str", "shape": [-1]}}]
    x, text = tensor_inputs(specs)
    assert (x.v2_datatype, x.shape, text.v2_datatype) == ("FP32", (-1, 4), "BYTES")


def test_v2_outputs_carry_the_model_datatype_and_the_row_shape() -> None:
    logits = Prediction(predictions=[[0.5, 1.5, 2.0], [1.0, 0.0, 3.0]], name="logits", datatype="FP32")
    (output,) = logits.v2_outputs()
    assert output == {"name": "logits", "shape": [2, 3], "datatype": "FP32",
                      "data": [0.5, 1.5, 2.0, 1.0, 0.0, 3.0]}
    labelled = Prediction(predictions=["a", "b"], probabilities=[[0.9, 0.1], [0.2, 0.8]], classes=["a", "b"])
    assert [(o["name"], o["shape"], o["datatype"]) for o in labelled.v2_outputs()] == [
        ("predictions", [2], "BYTES"), ("probabilities", [2, 2], "FP64")]
    assert labelled.rows(1, 2).probabilities == [[0.2, 0.8]]
