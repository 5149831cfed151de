"""The CLI's contract: one-line errors with exit code 1, tracebacks only behind --debug."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubeloop import __version__
from kubeloop.cli import app, main
from kubeloop.errors import KubeloopError


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeloop", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_version_and_help_work_from_the_shell() -> None:
    assert run("version").stdout.strip() == __version__
    helped = run("--help")
    assert helped.returncode == 0 and "Usage" in helped.stdout


def test_kubeloop_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    @app.command("explode-for-test")
    def explode() -> None:
        raise KubeloopError("the model 'x' has no version 9")

    try:
        with pytest.raises(SystemExit) as exited:
            main(["explode-for-test"])
        assert exited.value.code == 1
        err = capsys.readouterr().err
        assert "error: the model 'x' has no version 9" in err
        assert "Traceback" not in err
        with pytest.raises(KubeloopError):
            main(["--debug", "explode-for-test"])
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "explode-for-test"]


def test_unknown_command_exits_non_zero_with_usage() -> None:
    result = run("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
