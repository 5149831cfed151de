"""Runtime config through the environment, and the local process and deployment records."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubeloop.errors import NotFoundError
from kubeloop.local import processes
from kubeloop.serving.core.runtime import RuntimeConfig
from kubeloop.settings import Settings
from kubeloop.spec import parse_deployment


def test_runtime_config_round_trips_through_the_environment() -> None:
    config = RuntimeConfig(deployment="iris", model="iris-classifier", ref="3", port=9000, workers=2,
                           log_sink_url="http://127.0.0.1:1/events", log_to_store=False)
    assert RuntimeConfig.from_env(config.to_env()) == config
    with pytest.raises(KeyError, match="KUBELOOP_SERVE_MODEL is not set"):
        RuntimeConfig.from_env({"KUBELOOP_SERVE_DEPLOYMENT": "iris"})


def test_deployments_are_saved_and_found_by_name(settings: Settings) -> None:
    spec = parse_deployment({"apiVersion": "kubeloop.io/v1alpha1", "kind": "ModelDeployment",
                             "metadata": {"name": "iris"}, "spec": {"model": {"name": "iris-classifier"}}})
    processes.save_deployment(settings, spec)
    assert processes.load_deployed(settings, "iris") == spec
    assert processes.deployed_names(settings) == ["iris"]
    with pytest.raises(NotFoundError, match="no deployment 'other'"):
        processes.load_deployed(settings, "other")


def test_records_of_finished_processes_count_as_stopped(settings: Settings) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    record = processes.ProcessRecord(kind="kserve", pid=int(finished.stdout), port=1, deployment="iris",
                                     model="m", version="1")
    processes.write_record(processes.serving_dir(settings) / "iris" / "v1.json", record)
    assert processes.server_records(settings, "iris") == [record]
    assert not record.alive()
    assert processes.gateway_record(settings) is None
    processes.stop(record)  # a no-op for a process that is gone
    assert [r.version for r in processes.stop_deployment(settings, "iris")] == ["1"]
    assert processes.server_records(settings) == []


def test_a_record_whose_pid_was_recycled_is_neither_alive_nor_signalled(settings: Settings) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        started = processes.ProcessRecord(kind="kserve", pid=other.pid, port=1, deployment="iris")
        assert started.alive() and started.create_time
        recycled = processes.ProcessRecord(kind="kserve", pid=other.pid, port=1, deployment="iris",
                                           version="2", create_time=(started.create_time or 0) - 60)
        processes.write_record(processes.serving_dir(settings) / "iris" / "v2.json", recycled)
        (read,) = processes.server_records(settings, "iris")
        assert read == recycled and not read.alive()
        processes.stop_deployment(settings, "iris")
        assert other.poll() is None, "the process now holding the recorded pid was signalled"
    finally:
        other.kill()
        other.wait()


def test_the_gateway_token_is_private_and_stable(settings: Settings) -> None:
    token = processes.gateway_token(settings)
    assert len(token) >= 32 and processes.gateway_token(settings) == token
    path = processes.serving_dir(settings) / "gateway.token"
    assert path.stat().st_mode & 0o077 == 0


def test_unknown_runtime_is_refused(settings: Settings) -> None:
    with pytest.raises(NotFoundError, match="unknown runtime 'triton'"):
        processes.start_server(settings, deployment="iris", model="m", version="1", runtime="triton")
