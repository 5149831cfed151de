"""devtools: the link tree the checkers read, and the code-shape figures (imports, sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.devtools import codeshape, sourcetree

PROJECT = Path(__file__).resolve().parents[3]


def _project(root: Path) -> Path:
    """A project laid out like kubeloop's: platform/kubeloop, a mapped subtree, and setup.py naming it."""
    (root / "platform" / "kubeloop" / "__pycache__").mkdir(parents=True)
    (root / "platform" / "kubeloop" / "__init__.py").write_text("")
    (root / "platform" / "kubeloop" / "spec.py").write_text("X = 1\n")
    (root / "serving").mkdir()
    (root / "serving" / "__init__.py").write_text("")
    (root / "setup.py").write_text('SUBTREES = {"kubeloop.serving": "serving"}\nsetup()\n')
    return root


def test_tree_links_the_package_and_its_subtrees_as_the_wheel_has_them(tmp_path: Path) -> None:
    project = _project(tmp_path)

    tree = sourcetree.build(project=project)

    package = tree / "kubeloop"
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "serving", "spec.py"]
    assert (package / "spec.py").read_text() == "X = 1\n"
    assert (package / "serving").resolve() == (project / "serving").resolve()


def test_tree_is_rebuilt_without_what_the_project_no_longer_has(tmp_path: Path) -> None:
    project = _project(tmp_path)
    sourcetree.build(project=project)
    (project / "platform" / "kubeloop" / "spec.py").unlink()

    tree = sourcetree.build(project=project)

    assert not (tree / "kubeloop" / "spec.py").is_symlink()


def test_subtrees_are_read_from_the_real_setup_py() -> None:
    assert sourcetree.subtrees(project=PROJECT) == {
        "kubeloop.components": "components",
        "kubeloop.serving": "serving",
    }


def test_a_setup_py_without_subtrees_is_refused(tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("setup()\n")

    with pytest.raises(ValueError, match="defines no SUBTREES"):
        sourcetree.subtrees(project=tmp_path)


def _function(name: str, lines: int) -> str:
    """A function of exactly `lines` lines."""
    return f"def {name}():\n" + "    x = 1\n" * (lines - 2) + "    return x\n"


def test_functions_and_modules_over_the_limits_are_listed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "serving" / "long.py").write_text(_function("long", 41) + _function("short", 40))

    functions = codeshape.long_functions(project=project)
    modules = codeshape.long_modules(project=project, limit=80)

    assert functions == [("serving/long.py:1 long", 41)]
    assert modules == [("serving/long.py", 81)]


def test_package_imports_map_each_top_level_package_to_what_it_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "shapepkg"
    (package / "rollout").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "spec.py").write_text("")
    (package / "rollout" / "__init__.py").write_text("")
    (package / "rollout" / "engine.py").write_text("from shapepkg import spec\nimport shapepkg.rollout\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    layers = codeshape.package_imports(package="shapepkg")

    assert layers == {"shapepkg": set(), "rollout": {"spec"}, "spec": set()}
