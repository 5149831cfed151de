"""The demo lists every metrics endpoint it ran, rollout controllers included, after they have gone."""

from __future__ import annotations

import os

from kubeloop.controller.local import record_file
from kubeloop.demo.lifecycle import Processes
from kubeloop.local.processes import ProcessRecord, write_record
from kubeloop.settings import Settings


def test_a_controller_endpoint_stays_listed_after_its_rollout(settings: Settings) -> None:
    running = Processes(settings, "iris")
    controller = ProcessRecord(kind="rollout-controller", pid=os.getpid(), port=9464, deployment="iris")
    assert running.metrics_endpoints() == []

    write_record(record_file(settings, "iris"), controller)
    running.note_controller(timeout=1.0)
    record_file(settings, "iris").unlink()

    assert running.metrics_endpoints() == ["http://127.0.0.1:9464/metrics"]


def test_waiting_for_a_controller_that_never_records_itself_is_bounded(settings: Settings) -> None:
    running = Processes(settings, "iris")
    running.note_controller(timeout=0.3)
    assert running.metrics_endpoints() == []
