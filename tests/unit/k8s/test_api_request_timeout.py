"""Every call `KubeApi` makes is bounded: against an API server that accepts the connection and never
answers, each one fails after its request timeout instead of holding the reconcile (and its lock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from kubernetes.client import ApiClient, Configuration

from kubeloop.k8s.api import KubeApi, Ref
from kubeloop.k8s.config import config_from_env

TIMEOUT = 0.3
CUSTOM = Ref(group="serving.kserve.io", version="v1beta1", plural="inferenceservices", namespace="team",
             name="iris")
CRON = Ref(group="batch", version="v1", plural="cronjobs", namespace="team", name="iris-drift")
BODY: dict[str, Any] = {"metadata": {"name": "iris", "resourceVersion": "1"}, "spec": {}}


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An address whose server accepts every connection, reads nothing and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopping.set()
    thread.join(timeout=5)
    for connection in held:
        connection.close()
    listener.close()


CALLS: dict[str, Callable[[KubeApi], object]] = {
    "get": lambda api: api.get(CUSTOM),
    "get a CronJob": lambda api: api.get(CRON),
    "create": lambda api: api.create(CUSTOM, BODY),
    "create a CronJob": lambda api: api.create(CRON, BODY),
    "patch": lambda api: api.patch(CUSTOM, BODY),
    "patch a CronJob": lambda api: api.patch(CRON, BODY),
    "delete": lambda api: api.delete(CUSTOM),
    "delete a CronJob": lambda api: api.delete(CRON),
    "list": lambda api: api.list(CUSTOM, selector="app=iris"),
    "list CronJobs": lambda api: api.list(CRON, selector="app=iris"),
    "replace": lambda api: api.replace(CUSTOM, BODY),
    "replace the status": lambda api: api.replace(CUSTOM, BODY, status=True),
    "read a ConfigMap": lambda api: api.read_config_map("kserve", "inferenceservice-config"),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_call_to_an_api_server_that_never_answers_times_out(silent_server: str, call: str) -> None:
    configuration = Configuration(host=silent_server)
    configuration.retries = False  # one attempt: the bound measured is the timeout's own
    with ApiClient(configuration) as client:
        api = KubeApi(client, request_timeout=TIMEOUT)
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            CALLS[call](api)
    assert time.monotonic() - started < TIMEOUT + 2.0


def test_the_operator_bounds_its_requests_by_default_and_the_bound_is_a_setting() -> None:
    assert config_from_env({}).operator_request_timeout_seconds == 30.0
    env = {"KUBELOOP_K8S_OPERATOR_REQUEST_TIMEOUT_SECONDS": "5"}
    assert config_from_env(env).operator_request_timeout_seconds == 5.0
