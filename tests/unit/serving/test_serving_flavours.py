"""Which MLflow models the servers take: the pure servability decision on flavours and signature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeloop.errors import KubeloopError
from kubeloop.serving.core.flavours import servability
from kubeloop.serving.core.model import load_local

COLUMNS = [{"type": "double", "name": "x"}, {"type": "string", "name": "text"}]
TENSOR = [{"type": "tensor", "name": "X", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
PYTHON_MODEL = {"python_function": {"loader_module": "mlflow.pyfunc.model", "python_model": "model.pkl"}}


@pytest.mark.parametrize(("flavors", "flavour"), [
    ({"python_function": {"loader_module": "mlflow.sklearn"}, "sklearn": {}}, "sklearn"),
    ({"python_function": {"loader_module": "mlflow.xgboost"}, "xgboost": {}}, "xgboost"),
    ({"python_function": {"loader_module": "mlflow.lightgbm"}, "lightgbm": {}}, "lightgbm"),
    ({"python_function": {"loader_module": "mlflow.onnx"}, "onnx": {"data": "model.onnx"}}, "onnx"),
    (PYTHON_MODEL, "python_function"),
    ({"python_function": {"loader_module": "mlflow.pyfunc.loaders.code_model"}}, "python_function"),
])
def test_each_served_flavour_is_taken_with_columns_or_tensors(flavors: dict, flavour: str) -> None:
    by_columns = servability(flavors, COLUMNS)
    by_tensor = servability(flavors, json.dumps(TENSOR))
    assert (by_columns.servable, by_columns.flavour, by_columns.inputs) == (True, flavour, "columns")
    assert (by_tensor.servable, by_tensor.flavour, by_tensor.inputs) == (True, flavour, "tensors")


@pytest.mark.parametrize(("flavors", "named"), [
    ({"python_function": {"loader_module": "mlflow.pytorch"}, "pytorch": {}}, "flavour pytorch"),
    ({"python_function": {"loader_module": "mlflow.transformers"}, "transformers": {}}, "transformers"),
    ({"python_function": {"loader_module": "my_company.loader"}}, "python_function with loader my_company"),
])
def test_a_flavour_no_server_loads_is_refused_by_name(flavors: dict, named: str) -> None:
    verdict = servability(flavors, COLUMNS)
    assert not verdict.servable and named in verdict.reason and "sklearn" in verdict.reason


@pytest.mark.parametrize(("inputs", "problem"), [
    (None, "no input signature; log it with a signature"),
    ([], "empty"),
    ([{"type": "datetime", "name": "when"}], "column 'when' has type 'datetime'"),
    ([{"type": "double"}], "has no name"),
    ([*COLUMNS, *TENSOR], "mixes tensors and columns"),
    ([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [1, 4]}}], "shape [1, 4]"),
    ([{"type": "tensor", "tensor-spec": {"dtype": "complex64", "shape": [-1]}}], "dtype 'complex64'"),
    ([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}] * 2, "must name each"),
])
def test_a_signature_the_servers_cannot_take_is_refused_naming_why(inputs: list | None, problem: str) -> None:
    verdict = servability({"sklearn": {}}, inputs)
    assert not verdict.servable and problem in verdict.reason, verdict.reason


def test_a_server_refuses_an_unservable_model_folder_naming_its_flavour(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(
        "flavors:\n  python_function: {loader_module: mlflow.pytorch, data: data}\n"
        "  pytorch: {pytorch_version: '2.3', model_data: data}\n"
        "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"x\"}]'\n  outputs: null\n"
    )
    with pytest.raises(KubeloopError) as refused:
        load_local(tmp_path, name="vision", version="3")
    assert str(refused.value).startswith("model 'vision' version 3 cannot be served: flavour pytorch")
