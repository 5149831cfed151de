"""Starting and stopping the control plane's processes: a process that dies is named with its log's end,
a missing build says how to make it, and everything recorded is stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeloop.devtools import gobuild
from kubeloop.devtools.cluster import start
from kubeloop.devtools.cluster.processes import ClusterError, read_pids, record, spawn, stop_all, wait_until
from kubeloop.devtools.tools import ToolMissing


def test_a_process_that_exits_is_reported_with_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "etcd.log"
    process = spawn(["sh", "-c", "echo 'listen tcp 127.0.0.1:2379: bind: address already in use'; exit 3"],
                    log=log, detach=False)
    with pytest.raises(ClusterError, match=r"(?s)etcd: the process exited with 3.*address already in use"):
        wait_until(lambda: False, what="etcd", timeout=30, process=process, log=log)


def test_a_check_that_never_holds_times_out_naming_what(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="kwok \\(3 nodes Ready\\): not ready after 0 s"):
        wait_until(lambda: False, what="kwok (3 nodes Ready)", timeout=0.2)


def test_stop_all_stops_every_recorded_process_and_forgets_them(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    names = ("etcd", "kube-apiserver", "kwok")
    processes = [spawn(["sleep", "60"], log=tmp_path / f"{name}.log", detach=False) for name in names]
    for name, process in zip(names, processes, strict=True):
        record(pids_file, name, process.pid)
    pids = read_pids(pids_file)
    assert sorted(stop_all(pids_file, last=("kube-apiserver", "etcd"))) == ["etcd", "kube-apiserver", "kwok"]
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not pids_file.exists()
    for process in processes:  # stop_all reaped them by pid; each Popen learns it is done
        process.wait(timeout=5)


def test_starting_without_a_build_says_to_run_make_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gobuild.CACHE_ENV, str(tmp_path / "empty-cache"))
    with pytest.raises(ToolMissing, match=r"not built for the current pins.*run `make install`"):
        start(root=tmp_path / "control-plane")
