"""A recorded process is its pid and start time: what is signalled, and what a dead leader left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from kubeloop.local.identity import ProcessIdentity, group_members, identify, running, terminate

# A group leader that starts a worker in its group, prints the worker's pid, then waits.
LEADER = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(worker.pid, flush=True)
time.sleep(120)
"""


def test_a_process_is_running_only_under_its_own_start_time() -> None:
    me = identify(os.getpid())
    assert me is not None and running(me) is not None
    assert running(ProcessIdentity(pid=os.getpid(), create_time=me.create_time - 5)) is None
    assert running(ProcessIdentity(pid=os.getpid(), create_time=0.0)) is None


def test_the_workers_of_a_killed_leader_are_found_and_stopped() -> None:
    with subprocess.Popen([sys.executable, "-c", LEADER], stdout=subprocess.PIPE, text=True,
                          start_new_session=True) as leader:  # closes the pipe and waits on the way out
        assert leader.stdout is not None
        worker = int(leader.stdout.readline())
        recorded = identify(leader.pid)
        assert recorded is not None
        os.kill(leader.pid, signal.SIGKILL)
    try:
        assert [p.pid for p in group_members(recorded)] == [worker], "the orphaned worker is still ours"
        terminate(recorded, timeout=5)
        deadline = time.monotonic() + 5
        while psutil.pid_exists(worker) and psutil.Process(worker).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the orphaned worker survived"
            time.sleep(0.05)
    finally:
        if psutil.pid_exists(worker):
            os.kill(worker, signal.SIGKILL)
