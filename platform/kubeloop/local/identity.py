"""Which process a record means: its pid together with its start time, so a recycled pid is never ours.

A pid alone names whatever process holds that number now. Records keep the start time psutil reports
(`create_time`, from the kernel's start ticks: the same value on every read for one process), and
nothing is signalled unless the process under that pid still has it. Our servers lead their own
process group (they start in a new session), so a verified leader's group is ours to signal; members
left behind by a dead leader (a pid the kernel cannot reuse while its group lives) are signalled one
by one, each checked to be in the group and started after the leader.
"""

from __future__ import annotations

import atexit
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    import subprocess

# Detached children started by this interpreter (servers, the gateway, the supervisor, MLflow), by pid:
# they outlive the call that started them, so their Popen is kept here and reaped through it, never
# dropped while the process runs.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def adopt(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Keep the Popen of a detached child until it is reaped; returns it."""
    _CHILDREN[process.pid] = process
    return process


@atexit.register
def _reap_ended_children() -> None:
    # A child stopped by its recorded identity (`kubeloop down` from another shell, a test's teardown)
    # has ended but its Popen has not heard: collect those exits before the interpreter drops the
    # Popen objects. Children still running (`kubeloop up` leaves its servers) are meant to outlive us.
    for child in list(_CHILDREN.values()):
        child.poll()

# Start times are whole clock ticks (1/100 s); a tolerance well under one tick absorbs float rounding.
_SAME_START_S = 0.005


@dataclass(frozen=True, kw_only=True)
class ProcessIdentity:
    """A process as it was recorded: pid and start time (seconds since the epoch)."""

    pid: int
    create_time: float


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the process holding `pid` now, or None when there is none."""
    try:
        return ProcessIdentity(pid=pid, create_time=psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def running(identity: ProcessIdentity) -> psutil.Process | None:
    """The recorded process if it still runs (not a zombie, not a newer process under the same pid)."""
    if identity.pid <= 0 or identity.create_time <= 0:
        return None
    try:
        process = psutil.Process(identity.pid)
        if abs(process.create_time() - identity.create_time) > _SAME_START_S:
            return None
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def group_members(identity: ProcessIdentity) -> list[psutil.Process]:
    """Live processes of the group the recorded process led, started no earlier than it was.

    The kernel does not hand out a pid while a process group of that number exists, so when another
    process holds the recorded pid, the recorded group is gone and nothing is a member of it.
    """
    if _held_by_another(identity):
        return []
    members = []
    for process in psutil.process_iter(["create_time"]):
        try:
            if os.getpgid(process.pid) != identity.pid:
                continue
        except (ProcessLookupError, PermissionError):
            continue
        if (process.info["create_time"] or 0) + _SAME_START_S >= identity.create_time:
            members.append(process)
    return members


def _held_by_another(identity: ProcessIdentity) -> bool:
    """True when a process other than the recorded one (dead or a zombie) holds the recorded pid."""
    try:
        return bool(abs(psutil.Process(identity.pid).create_time() - identity.create_time) > _SAME_START_S)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def signal_group(identity: ProcessIdentity, signum: int) -> bool:
    """Send `signum` to the recorded process's group; False (nothing sent) when none of it runs."""
    if running(identity) is not None:
        try:
            if os.getpgid(identity.pid) == identity.pid:
                os.killpg(identity.pid, signum)
            else:  # not a group leader (a command run in the foreground): only the process itself
                os.kill(identity.pid, signum)
            return True
        except ProcessLookupError:
            return False
    orphans = group_members(identity)
    for process in orphans:
        try:
            process.send_signal(signum)
        except psutil.NoSuchProcess:
            continue
    return bool(orphans)


def any_running(identity: ProcessIdentity) -> bool:
    """True while the recorded process or a member of its group runs."""
    return running(identity) is not None or bool(group_members(identity))


def terminate(identity: ProcessIdentity, *, timeout: float = 15.0) -> None:
    """SIGTERM the recorded process's group, SIGKILL whatever of it is left after `timeout`."""
    if not signal_group(identity, signal.SIGTERM):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(identity.pid)
        if not any_running(identity):
            return
        time.sleep(0.1)
    signal_group(identity, signal.SIGKILL)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child (otherwise it lingers as a zombie)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
