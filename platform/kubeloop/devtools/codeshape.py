"""The shape of the source: which kubeloop packages import which, and what is over the size limits.

Run as `python -m kubeloop.devtools shape`, which puts the link tree of `sourcetree` on the path first:
grimp (import-linter's graph) finds kubeloop.serving and kubeloop.components only there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

FUNCTION_LIMIT = 40  # lines, from `def` to the last line of the body
MODULE_LIMIT = 300  # lines
SOURCE_FOLDERS = ("platform/kubeloop", "serving", "components")


def top_level(module: str) -> str:
    """kubeloop.rollout.engine -> rollout; kubeloop.spec -> spec."""
    return module.split(".")[1] if module.count(".") else module


def package_imports(*, package: str = "kubeloop") -> dict[str, set[str]]:
    """Each top-level subpackage (or module) of `package` -> the others it imports, directly."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)
    layers: dict[str, set[str]] = {}
    for module in graph.modules:
        importer = top_level(module)
        imported = {top_level(other) for other in graph.find_modules_directly_imported_by(module)}
        layers.setdefault(importer, set()).update(imported - {importer, package})
    return layers


def _sources(*, project: Path) -> Iterator[Path]:
    """Every Python file of the shipped package."""
    for folder in SOURCE_FOLDERS:
        yield from sorted((project / folder).rglob("*.py"))


def long_functions(*, project: Path, limit: int = FUNCTION_LIMIT) -> list[tuple[str, int]]:
    """(file:line name, length) of every function or method longer than `limit` lines."""
    found = []
    for path in _sources(project=project):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append((f"{path.relative_to(project)}:{node.lineno} {node.name}", length))
    return found


def long_modules(*, project: Path, limit: int = MODULE_LIMIT) -> list[tuple[str, int]]:
    """(file, lines) of every module longer than `limit` lines."""
    lengths = ((path, len(path.read_text().splitlines())) for path in _sources(project=project))
    return [(str(path.relative_to(project)), lines) for path, lines in lengths if lines > limit]


def report(*, project: Path) -> str:
    """The import picture and the size figures as plain text."""
    layers = package_imports()
    lines = ["kubeloop package -> the kubeloop packages it imports"]
    lines += [f"  {name:<20} {', '.join(sorted(layers[name])) or '-'}" for name in sorted(layers)]
    functions = long_functions(project=project)
    modules = long_modules(project=project)
    lines.append(f"functions over {FUNCTION_LIMIT} lines: {len(functions)}")
    lines += [f"  {length:>4}  {where}" for where, length in sorted(functions, key=lambda f: -f[1])]
    lines.append(f"modules over {MODULE_LIMIT} lines: {len(modules)}")
    lines += [f"  {length:>4}  {where}" for where, length in sorted(modules, key=lambda m: -m[1])]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(project=Path.cwd()))
