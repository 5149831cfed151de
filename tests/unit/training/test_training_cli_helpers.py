"""CLI parameter parsing, the status sections and the server record, without starting anything."""

from __future__ import annotations

import json

import pytest

from kubeloop.cli.pipeline import parse_params
from kubeloop.errors import KubeloopError
from kubeloop.platform_services import record_path, running_server, status
from kubeloop.settings import Settings


def test_params_stay_strings_for_the_pipeline_signature_to_type() -> None:
    assert parse_params(["seed=7", 'hyperparams={"C": 0.5}', "data=a=b.csv", "gate_threshold=0.9"]) == {
        "seed": "7",
        "hyperparams": '{"C": 0.5}',
        "data": "a=b.csv",
        "gate_threshold": "0.9",
    }
    with pytest.raises(KubeloopError, match="--param expects key=value, got 'seed'"):
        parse_params(["seed"])


def test_a_stale_server_record_counts_as_stopped(settings: Settings) -> None:
    record_path(settings).write_text(
        json.dumps(
            {
                "pid": 2**22 + 12345,
                "port": 1,
                "url": "http://127.0.0.1:1",
                "backend_store_uri": "x",
                "log": "l",
            }
        )
    )
    assert running_server(settings) is None
    assert not record_path(settings).exists()


def test_status_reports_an_empty_registry_and_no_server(settings: Settings) -> None:
    state = status(settings)
    assert state["home"] == str(settings.home)
    assert state["models"] == [] and state["mlflow_server"] == {"running": False}


def test_status_reports_an_unreachable_registry_instead_of_failing(settings: Settings) -> None:
    import socket
    from dataclasses import replace

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = status(replace(settings, tracking_uri=f"http://127.0.0.1:{port}"))
    assert "is unreachable" in state["models"]["error"]
