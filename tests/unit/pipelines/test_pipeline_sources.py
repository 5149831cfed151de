"""A user's pipeline by file or module reference: every way a reference can be wrong is one clear line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kubeloop.errors import NotFoundError
from kubeloop.pipelines.sources import (
    PipelineSourceError,
    check_compiles,
    is_reference,
    load_pipeline,
    parse_reference,
)

HEADER = """
from kfp import dsl

@dsl.component(base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b
"""
PIPELINE = """
@dsl.pipeline(name="sums")
def sums(a: int, b: int = 2) -> None:
    add(a=a, b=b)
"""


def write(folder: Path, body: str, name: str = "flow.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(HEADER) + textwrap.dedent(body))
    return path


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("training", False), ("flow.py", True), ("flow.py:sums", True), ("a/b", True), ("pkg.mod:fn", True)],
)
def test_names_and_references_are_told_apart(ref: str, expected: bool) -> None:
    assert is_reference(ref) is expected


def test_a_file_reference_resolves_from_the_base_folder_and_loads_its_pipeline(tmp_path: Path) -> None:
    write(tmp_path, PIPELINE)
    source = parse_reference("flow.py:sums", base=tmp_path)
    assert source.file == str(tmp_path / "flow.py") and source.default_name == "sums"
    pipeline = load_pipeline(source)
    assert set(pipeline.component_spec.inputs) == {"a", "b"}
    assert len(check_compiles(pipeline, ref=source.ref)) == 64
    assert load_pipeline(parse_reference("flow.py", base=tmp_path)).name == "sums"  # the only one


def test_a_module_reference_loads_the_builtin_training_pipeline() -> None:
    pipeline = load_pipeline(parse_reference("kubeloop.components.training:training_pipeline"))
    assert pipeline.name == "training"


@pytest.mark.parametrize(
    ("body", "ref", "error", "message"),
    [
        (PIPELINE, "missing.py:sums", NotFoundError, "pipeline file .*missing.py does not exist"),
        (PIPELINE, "flow.py:other", NotFoundError, r"flow.py has no function 'other' \(pipelines: sums\)"),
        (
            "def plain(a: int) -> int:\n    return a\n",
            "flow.py:plain",
            PipelineSourceError,
            "flow.py:plain is not a KFP pipeline: decorate it with @dsl.pipeline \\(it is a function\\)",
        ),
        (
            PIPELINE,
            "flow.py:add",
            PipelineSourceError,
            "is not a KFP pipeline.*KFP component, not a pipeline",
        ),
        ("def broken(:\n", "flow.py", PipelineSourceError, "flow.py fails to compile: SyntaxError"),
        (
            '@dsl.component(base_image="python:3.11")\ndef word() -> str:\n    return "two"\n\n'
            "@dsl.pipeline\ndef wrong(a: int) -> None:\n    add(a=a, b=word().output)\n",
            "flow.py:wrong",
            PipelineSourceError,
            "flow.py fails to compile: InconsistentTypeException: Incompatible argument passed to the input",
        ),
        (
            PIPELINE + "\n@dsl.pipeline\ndef again(a: int) -> None:\n    add(a=a, b=a)\n",
            "flow.py",
            PipelineSourceError,
            r"name the pipeline as .*flow.py:<function> \(pipelines: again, sums\)",
        ),
        (PIPELINE, "no_such_package.flows:sums", NotFoundError, "pipeline module 'no_such_package.flows'"),
    ],
)
def test_bad_references_are_refused_in_one_line(
    tmp_path: Path, body: str, ref: str, error: type[Exception], message: str
) -> None:
    write(tmp_path, body)
    with pytest.raises(error, match=message) as raised:
        load_pipeline(parse_reference(ref, base=tmp_path))
    assert "\n" not in str(raised.value)


def test_a_module_reference_must_name_its_function() -> None:
    with pytest.raises(PipelineSourceError, match="a module reference names its function"):
        parse_reference("pkg.flows:")
