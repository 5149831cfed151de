"""What registration refuses before writing anything: no signature, a flavour or signature the servers
cannot take; and which alias a new version gets."""

from __future__ import annotations

import json

import pytest

from kubeloop.errors import KubeloopError
from kubeloop.registry.servable import input_names, missing_signature_message, model_flavor
from kubeloop.serving.core.flavours import unservable_reason
from kubeloop.training.registration import choose_alias

COLUMNS = {"inputs": json.dumps([{"type": "double", "name": "x"}, {"type": "string", "name": "shop"}])}


def flavours(loader: str, own: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {own: {}}
    found["python_function"] = {"loader_module": loader}
    return found


@pytest.mark.parametrize(
    ("loader", "own"),
    [
        ("mlflow.sklearn", "sklearn"),
        ("mlflow.lightgbm", "lightgbm"),
        ("mlflow.pyfunc.model", "python_function"),
    ],
)
def test_the_flavours_the_servers_load_pass(loader: str, own: str) -> None:
    assert unservable_reason(flavors=flavours(loader, own), signature=COLUMNS) is None


def test_another_flavour_is_named_in_the_refusal() -> None:
    reason = unservable_reason(flavors=flavours("mlflow.statsmodels", "statsmodels"), signature=COLUMNS)
    assert reason is not None and reason.startswith("flavour statsmodels cannot be served")
    assert unservable_reason(flavors={"keras": {}}, signature=COLUMNS) is not None  # no pyfunc flavour at all


def test_tensors_with_a_batch_dimension_pass_and_fixed_batches_or_unnamed_columns_are_refused() -> None:
    def tensor(shape: list[int]) -> dict[str, str]:
        spec = {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": shape}}
        return {"inputs": json.dumps([spec])}

    onnx = flavours("mlflow.onnx", "onnx")
    assert unservable_reason(flavors=onnx, signature=tensor([-1, 4])) is None
    assert "must be -1" in str(unservable_reason(flavors=onnx, signature=tensor([1, 4])))
    unnamed = {"inputs": json.dumps([{"type": "double"}])}
    sklearn = flavours("mlflow.sklearn", "sklearn")
    assert "has no name" in str(unservable_reason(flavors=sklearn, signature=unnamed))
    assert input_names(COLUMNS) == ["x", "shop"]


def test_the_missing_signature_message_shows_how_to_add_one() -> None:
    message = missing_signature_message(model_uri="runs:/abc/model", flavor="lightgbm")
    assert "runs:/abc/model has no signature" in message
    assert (
        'mlflow.lightgbm.log_model(model, name="model", signature=mlflow.models.infer_signature(' in message
    )
    assert 'mlflow.models.set_signature("runs:/abc/model", signature)' in message
    assert (
        model_flavor({"python_function": {"loader_module": "mlflow.pyfunc.model"}}) == "pyfunc (PythonModel)"
    )


def test_a_first_version_is_champion_later_ones_challenger_unless_asked() -> None:
    assert choose_alias(requested="", has_champion=False) == "champion"
    assert choose_alias(requested="", has_champion=True) == "challenger"
    assert choose_alias(requested="champion", has_champion=True) == "champion"
    with pytest.raises(KubeloopError, match="alias: expected champion or challenger, got 'prod'"):
        choose_alias(requested="prod", has_champion=True)
