"""A user's pipeline by reference: `path/to/file.py[:function]` or `package.module:function`.

Loading refuses, each in one line naming the file and function: a file that does not exist, one
that fails to import or whose pipeline fails to build (KFP builds the graph when the decorator
runs), no such function, a function that is not a KFP `@dsl.pipeline`, and a file with several
pipelines when none is named.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeloop.errors import KubeloopError, NotFoundError


class PipelineSourceError(KubeloopError):
    """A user's pipeline file or module cannot be used; the message names it and why."""


@dataclass(frozen=True, kw_only=True)
class PipelineSource:
    """Where a pipeline function is: a Python file (absolute path) or an importable module."""

    file: str = ""
    module: str = ""
    function: str = ""  # empty: the file's only pipeline

    @property
    def ref(self) -> str:
        """The reference as users write it, with an absolute file path."""
        where = self.file or self.module
        return f"{where}:{self.function}" if self.function else where

    @property
    def default_name(self) -> str:
        """A run-name prefix: the function's name, else the file's."""
        return (self.function or Path(self.file).stem).replace("_", "-")


def is_reference(ref: str) -> bool:
    """True for a file or module reference (`x.py`, `x.py:fn`, `pkg.mod:fn`), False for a plain name."""
    where = ref.rpartition(":")[0] if ":" in ref else ref
    return where.endswith(".py") or "/" in where or (":" in ref and bool(where))


def parse_reference(ref: str, *, base: Path | None = None) -> PipelineSource:
    """A PipelineSource from a reference; relative file paths are taken from `base` (default: cwd)."""
    where, sep, function = ref.rpartition(":") if ":" in ref else (ref, "", "")
    if where.endswith(".py") or "/" in where:
        path = Path(where).expanduser()
        absolute = path if path.is_absolute() else (base or Path.cwd()) / path
        return PipelineSource(file=str(absolute.resolve()), function=function)
    if not function:
        raise PipelineSourceError(f"pipeline {ref!r}: a module reference names its function (pkg.mod:fn)")
    return PipelineSource(module=where, function=function)


def load_pipeline(source: PipelineSource) -> Any:
    """Import the pipeline function (a kfp GraphComponent); PipelineSourceError or NotFoundError otherwise."""
    module = _load_file(source.file) if source.file else _load_module(source.module)
    if not source.function:
        return _only_pipeline(module, source)
    if not hasattr(module, source.function):
        found = ", ".join(sorted(_pipelines(module))) or "none"
        raise NotFoundError(
            f"{source.file or source.module} has no function {source.function!r} (pipelines: {found})"
        )
    pipeline = getattr(module, source.function)
    if not _is_pipeline(pipeline):
        raise PipelineSourceError(
            f"{source.ref} is not a KFP pipeline: decorate it with @dsl.pipeline (it is a {_kind(pipeline)})"
        )
    return pipeline


def check_compiles(pipeline: Any, *, ref: str) -> str:
    """Compile the pipeline to KFP IR (in a scratch folder); return the IR's sha256, or refuse in one line."""
    from kfp import compiler

    with tempfile.TemporaryDirectory(prefix="kubeloop-compile-") as scratch:
        path = Path(scratch) / "pipeline.yaml"
        try:
            compiler.Compiler().compile(pipeline, str(path))
        except Exception as error:  # noqa: BLE001 - KFP raises many kinds; the user needs the message
            raise PipelineSourceError(f"pipeline {ref} fails to compile: {_first_line(error)}") from None
        return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_file(file: str) -> Any:
    path = Path(file)
    if not path.is_file():
        raise NotFoundError(f"pipeline file {path} does not exist")
    name = f"kubeloop_user_pipeline_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours, as under `python file.py`
    try:
        sys.modules[name] = module  # KFP reads the component sources through the module
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - a syntax error, a failed import, a graph KFP refuses
        sys.modules.pop(name, None)
        raise PipelineSourceError(f"pipeline file {path} fails to compile: {_first_line(error)}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _load_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise NotFoundError(f"pipeline module {name!r} cannot be imported: {error}") from None
    except Exception as error:  # noqa: BLE001
        raise PipelineSourceError(f"pipeline module {name} fails to compile: {_first_line(error)}") from None


def _only_pipeline(module: Any, source: PipelineSource) -> Any:
    found = _pipelines(module)
    if len(found) != 1:
        listed = ", ".join(sorted(found)) or "none"
        raise PipelineSourceError(
            f"{source.file or source.module}: name the pipeline as {source.ref}:<function> "
            f"(pipelines: {listed})"
        )
    return next(iter(found.values()))


def _pipelines(module: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(module).items() if _is_pipeline(value)}


def _is_pipeline(value: Any) -> bool:
    from kfp.dsl.graph_component import GraphComponent

    return isinstance(value, GraphComponent)


def _kind(value: Any) -> str:
    from kfp.dsl.base_component import BaseComponent

    if isinstance(value, BaseComponent):
        return "KFP component, not a pipeline"
    return "function" if callable(value) else type(value).__name__


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
