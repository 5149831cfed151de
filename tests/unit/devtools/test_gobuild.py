"""gobuild: the cache key, the version flags of a release build, one `go build` per module."""

from __future__ import annotations

import shutil
from pathlib import Path

from kubeloop.devtools import gobuild


def _modules(root: Path) -> Path:
    """A copy of the pinned modules' go.mod and go.sum files."""
    for module in gobuild.MODULES:
        for name in ("go.mod", "go.sum"):
            target = root / module.folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(gobuild.modules_dir() / module.folder / name, target)
    return root


def test_key_changes_with_any_pin_or_the_go_version(tmp_path: Path) -> None:
    folder = _modules(tmp_path)
    key = gobuild.build_key(folder=folder, go="go1.26.8 linux amd64")
    assert key == gobuild.build_key(folder=folder, go="go1.26.8 linux amd64")
    assert key != gobuild.build_key(folder=folder, go="go1.26.9 linux amd64")
    with open(folder / "kwok" / "go.sum", "a") as sums:
        sums.write("example.com/x v1.0.0 h1:abc=\n")
    assert key != gobuild.build_key(folder=folder, go="go1.26.8 linux amd64")


def test_cache_lives_outside_the_source_tree(monkeypatch: object) -> None:
    assert not gobuild.cache_root().resolve().is_relative_to(gobuild.modules_dir().parents[2])


def test_version_flags_match_hack_lib_version_sh() -> None:
    flags = gobuild.version_ldflags(tag="v1.37.2", build_date="2026-10-27T12:01:04Z")
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        for key, value in (("gitVersion", "v1.37.2"), ("gitMajor", "1"), ("gitMinor", "37"),
                           ("gitTreeState", "clean"), ("buildDate", "2026-10-27T12:01:04Z")):
            assert f"-X {package}.{key}={value}" in flags


def test_one_go_build_per_module_shares_compilation(tmp_path: Path) -> None:
    kube, etcd, _ = gobuild.MODULES
    cmd = gobuild.build_command(kube, out=tmp_path, ldflags=["-X a.b=c"])
    assert cmd[:2] == ["go", "build"] and "-trimpath" in cmd
    assert cmd[cmd.index("-ldflags") + 1] == "-s -w -X a.b=c"
    assert cmd[cmd.index("-o") + 1] == f"{tmp_path}/"  # a folder: one binary per main package
    assert cmd[-4:] == [f"k8s.io/kubernetes/cmd/{n}" for n in
                        ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")]
    single = gobuild.build_command(etcd, out=tmp_path, ldflags=[])
    assert single[single.index("-o") + 1] == str(tmp_path / "etcd")  # not "v3" after the module path


def test_linking_replaces_what_was_there(tmp_path: Path) -> None:
    source, dest = tmp_path / "built", tmp_path / "bin"
    source.mkdir()
    dest.mkdir()
    (dest / "kubectl").write_text("an older kubectl")
    gobuild.link_binaries(source=source, dest=dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(gobuild.BINARIES)
    assert (dest / "kubectl").readlink() == source / "kubectl"
