"""The kubeloop package as the wheel lays it out, as one folder of links, for checkers that find modules
by folder (mypy, import-linter).

setup.py maps kubeloop.serving to serving/ and kubeloop.components to components/. Python finds them
through the editable install's import hook, which static checkers do not run, so `make lint` first links
every entry of platform/kubeloop and each mapped subtree into build/source-tree/kubeloop.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

TREE = Path("build") / "source-tree"
PACKAGE_ROOT = Path("platform") / "kubeloop"


def subtrees(*, project: Path) -> dict[str, str]:
    """setup.py's SUBTREES (package name -> folder), read without running setup.py."""
    for node in ast.parse((project / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["SUBTREES"]:
            mapping: dict[str, str] = ast.literal_eval(node.value)
            return mapping
    raise ValueError(f"{project / 'setup.py'} defines no SUBTREES mapping")


def _link(*, link: Path, target: Path) -> None:
    """A relative symlink, so the tree still works when the project folder moves."""
    link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=target.is_dir())


def build(*, project: Path) -> Path:
    """(Re)make the link tree under `project`; returns the folder to put on a checker's search path."""
    root = project / TREE
    package = root / "kubeloop"
    shutil.rmtree(root, ignore_errors=True)
    package.mkdir(parents=True)
    for entry in sorted((project / PACKAGE_ROOT).iterdir()):
        if entry.name != "__pycache__":
            _link(link=package / entry.name, target=entry)
    for name, folder in subtrees(project=project).items():
        _link(link=package / name.removeprefix("kubeloop."), target=project / folder)
    return root
