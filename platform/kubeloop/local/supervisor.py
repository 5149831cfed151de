"""The local supervisor: restarts dead model servers and the gateway, re-routes, retires warm servers.

`python -m kubeloop.local.supervisor` (started by `kubeloop deploy` and `up`, stopped by `down`;
see `kubeloop.local.supervisor_process`). Every `period` it compares the process records (what
should run) with the processes (what does): a recorded process that died is started again (a server
on a new port, then the gateway re-routed to it; the gateway on its own port, then every route
re-resolved), after the back-off of `kubeloop.local.supervision`. The challenger of a rollout that
has not promoted it is left to the rollout controller, which rolls back from a dead challenger. The
previous champion a promotion kept warm is retired here once its time comes. Restarts are logged
(`kubeloop.local.restarts`) and served as Prometheus metrics on loopback.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from kubeloop.local import identity, processes, records
from kubeloop.local.restarts import RestartsCollector, Supervised, load_log, log_path, save_log
from kubeloop.local.supervision import Backoff, RestartHistory, left_to_controller, restart_due
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.state import RolloutState
from kubeloop.settings import Settings, load_settings

log = logging.getLogger("kubeloop.supervisor")
PERIOD_S = 0.5
IDLE_EXIT_S = 5.0


class Supervisor:
    """One turn at a time: look, then start a restart thread for each dead process that is due."""

    def __init__(self, settings: Settings, *, policy: Backoff | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.policy, self.clock = settings, policy or Backoff(), clock
        self.store = FileStateStore(settings.state_dir)
        self._log_path = log_path(settings)
        self._log = load_log(self._log_path)
        self._lock = threading.Lock()
        self._busy: set[Supervised] = set()

    def turn(self) -> bool:
        """Look once and act; False when there is nothing left to supervise."""
        gateway = records.load_record(records.gateway_path(self.settings))
        servers = processes.server_records(self.settings)
        if gateway is not None:
            self._watch(Supervised(kind="gateway"), gateway)
        for record in servers:
            if not left_to_controller(record.version, self._rollout(record.deployment)):
                process = Supervised(kind=record.kind, deployment=record.deployment, version=record.version)
                self._watch(process, record)
        self._retire()
        return gateway is not None or bool(servers) or bool(self._busy)

    def _rollout(self, deployment: str) -> RolloutState | None:
        try:
            return self.store.load(deployment)
        except ValueError as error:  # an unreadable state file: supervise as if there were no rollout
            log.warning("cannot read the rollout state of %s: %s", deployment, error)
            return None

    def _watch(self, process: Supervised, record: records.ProcessRecord) -> None:
        now = self.clock()
        with self._lock:
            history = self._log.get(process, RestartHistory())
            if record.alive():
                settled = history.settled(now=now, started_at=record.started_at, policy=self.policy)
                if settled != history:
                    self._update(process, settled)
                return
            if process in self._busy or not restart_due(history, now=now, policy=self.policy):
                return
            self._busy.add(process)
        threading.Thread(target=self._restart, args=(process, record), name=f"restart {process.key}",
                         daemon=True).start()

    def _restart(self, process: Supervised, record: records.ProcessRecord) -> None:
        reason = f"process {record.pid} exited"
        try:
            started = self._start_again(record)
            if started is not None:
                log.warning("restarted %s (%s) on %s", process.key, reason, started.url)
        except Exception as error:  # noqa: BLE001 - logged and counted; the next turn tries again
            reason = f"{reason}; starting it again failed: {error}"
            log.error("could not restart %s: %s", process.key, error)
        finally:
            with self._lock:
                self._busy.discard(process)
                history = self._log.get(process, RestartHistory())
                self._update(process, history.restarted(now=self.clock(), reason=reason))

    def _start_again(self, record: records.ProcessRecord) -> records.ProcessRecord | None:
        """Start the dead process again, unless someone stopped or replaced it meanwhile."""
        from kubeloop.local.routes import reroute_all

        if record.kind == "gateway":
            with records.records_lock(self.settings, records.GATEWAY_LOCK):
                if not _still_dead(records.gateway_path(self.settings), record):
                    return None
                identity.terminate(record.identity, timeout=5.0)  # workers it left behind
                started = processes.launch_gateway(self.settings, port=record.port)
            reroute_all(self.settings)
            return started
        with records.records_lock(self.settings, record.deployment):
            path = records.server_path(self.settings, record.deployment, record.version)
            if not _still_dead(path, record):
                return None
            identity.terminate(record.identity, timeout=5.0)
            serving = processes.load_deployed(self.settings, record.deployment).spec.serving
            started = processes.launch_server(
                self.settings, deployment=record.deployment, model=record.model, version=record.version,
                runtime=record.kind, port=None, workers=serving.workers,
                max_batch_rows=serving.max_batch_size, timeout=180.0)
        reroute_all(self.settings)
        return started

    def _retire(self) -> None:
        """Tick the controller of each ended rollout whose left-behind server is due to go.

        The rule is the controller's own (`rollout.reconcile.retirement_due`); this only makes sure
        someone ticks when the warm period ends, after the controller of the rollout has exited.
        """
        from kubeloop.controller import local

        now = self.clock()
        for deployment in self.store.deployments():
            state = self._rollout(deployment)
            if state is None or not state.done or state.retirement is None:
                continue
            if state.retirement.due(now=now):
                log.info("retiring %s version %s", deployment, state.retirement.version)
                target = local.load_target(self.settings, deployment)
                local.controller_for(self.settings, target).tick(deployment)

    def _update(self, process: Supervised, history: RestartHistory) -> None:
        self._log[process] = history
        save_log(self._log_path, self._log)


def _still_dead(path: Path, seen: records.ProcessRecord) -> bool:
    current = records.load_record(path)
    return current is not None and current.identity == seen.identity and not current.alive()


def run(settings: Settings, *, stop: threading.Event, period: float = PERIOD_S) -> None:
    """Supervise until `stop` is set, this process's record names another, or nothing is left for a while."""
    supervisor, idle_since = Supervisor(settings), None
    while not stop.is_set() and settings.home.is_dir():
        mine = records.load_record(records.serving_dir(settings) / "supervisor.json")
        if mine is None or mine.pid != os.getpid():
            return
        now = time.monotonic()
        try:
            busy = supervisor.turn()
        except Exception:  # logged; a supervisor that stops looking heals nothing
            log.exception("supervisor turn failed")
            busy = True
        idle_since = None if busy else (idle_since or now)
        if idle_since is not None and now - idle_since > IDLE_EXIT_S:
            return
        stop.wait(period)


def main() -> None:
    """Entry point: serve the restart metrics on a loopback port, record this process, supervise."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per admin call otherwise
    settings = load_settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    registry = CollectorRegistry()
    registry.register(RestartsCollector(log_path(settings)))
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    path = records.serving_dir(settings) / "supervisor.json"
    records.write_record(path, records.ProcessRecord(kind="supervisor", pid=os.getpid(),
                                                     port=int(server.server_port), started_at=time.time()))
    try:
        run(settings, stop=stop)
    finally:
        current = records.load_record(path)
        if current is not None and current.pid == os.getpid():
            path.unlink(missing_ok=True)
        server.shutdown()


if __name__ == "__main__":
    main()
