"""Parameters typed by the pipeline's signature: CLI strings converted, Python values checked, each refusal
naming the parameter."""

# No `from __future__ import annotations`: KFP reads the parameter types from real annotations.

from typing import Any

import pytest
from kfp import dsl

from kubeloop.pipelines.params import ParameterError, bind_params


@dsl.component(base_image="python:3.11")
def _echo(text: str) -> str:
    return text


@dsl.pipeline
def _flow(
    name: str,
    rows: int = 10,
    share: float = 0.5,
    strict: bool = False,
    tags: list = [],  # noqa: B006 - KFP reads the defaults from the signature
    extra: dict = {},  # noqa: B006
) -> None:
    _echo(text=name)


INPUTS = _flow.component_spec.inputs


def test_cli_strings_become_the_declared_types_over_the_presets() -> None:
    bound = bind_params(
        INPUTS,
        {"name": "wine", "rows": "25", "share": "0.3", "strict": "yes", "tags": '["a"]', "extra": '{"k": 1}'},
        pipeline="flow",
        preset={"rows": 5, "share": 0.1},
    )
    assert bound == {
        "name": "wine",
        "rows": 25,
        "share": 0.3,
        "strict": True,
        "tags": ["a"],
        "extra": {"k": 1},
    }
    assert bind_params(INPUTS, {"name": "x"}, pipeline="flow", preset={"rows": 5}) == {"name": "x", "rows": 5}


def test_python_values_are_checked_and_widened_only_where_safe() -> None:
    bound = bind_params(INPUTS, {"name": "x", "rows": 3.0, "share": 2}, pipeline="flow")
    assert bound == {"name": "x", "rows": 3, "share": 2.0}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"name": "x", "depth": "3"},
            "unknown parameter(s) depth for pipeline flow; it takes name, rows, share",
        ),
        ({"rows": "3"}, "missing parameter(s) name for pipeline flow (-p name=value)"),
        ({"name": "x", "rows": "ten"}, "parameter rows: expected an integer, got 'ten'"),
        ({"name": "x", "rows": "2.5"}, "parameter rows: expected an integer, got '2.5'"),
        ({"name": "x", "rows": True}, "parameter rows: expected an integer, got True"),
        ({"name": "x", "share": "half"}, "parameter share: expected a number, got 'half'"),
        ({"name": "x", "strict": "maybe"}, "parameter strict: expected true or false, got 'maybe'"),
        ({"name": "x", "tags": '{"a": 1}'}, "parameter tags: expected a JSON list"),
        ({"name": "x", "extra": "not json"}, "parameter extra: expected a JSON object"),
        ({"name": 3}, "parameter name: expected a string, got 3"),
    ],
)
def test_unknown_missing_and_mistyped_parameters_are_refused_by_name(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ParameterError) as raised:
        bind_params(INPUTS, params, pipeline="flow")
    assert message in str(raised.value)


def test_a_pipeline_with_artifact_inputs_is_refused() -> None:
    from kfp.dsl import Dataset, Input

    @dsl.component(base_image="python:3.11")
    def _size(table: Input[Dataset]) -> int:
        return 0

    @dsl.pipeline
    def _takes_table(table: Input[Dataset]) -> None:
        _size(table=table)

    with pytest.raises(ParameterError, match="takes artifact input\\(s\\) table"):
        bind_params(_takes_table.component_spec.inputs, {}, pipeline="takes-table")
