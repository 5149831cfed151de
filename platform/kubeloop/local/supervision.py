"""The supervisor's decisions, as pure functions: what to restart, when (back-off), what to leave alone.

A process that keeps dying is restarted after longer and longer pauses (0 s, then 1, 2, 4 ... up to
`max_delay`), as systemd's `Restart=` with a back-off or Kubernetes' CrashLoopBackOff do; one that
stayed up for `stable_after` seconds has its streak forgotten, so the next crash restarts at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kubeloop.rollout.state import Phase, RolloutState


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """How long to wait before the n-th consecutive restart of the same process."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0

    def delay(self, streak: int) -> float:
        """0 for the first restart of a streak, then first_delay doubling up to max_delay."""
        if streak <= 0:
            return 0.0
        return float(min(self.max_delay, self.first_delay * 2 ** (streak - 1)))


@dataclass(frozen=True, kw_only=True)
class RestartHistory:
    """What the supervisor remembers of one supervised process."""

    restarts: int = 0
    streak: int = 0
    last_at: float | None = None
    last_reason: str = ""

    def restarted(self, *, now: float, reason: str) -> RestartHistory:
        """The history after one more restart."""
        return replace(self, restarts=self.restarts + 1, streak=self.streak + 1, last_at=now,
                       last_reason=reason)

    def settled(self, *, now: float, started_at: float, policy: Backoff) -> RestartHistory:
        """The history once a live process has stayed up long enough to end its crash streak."""
        if self.streak and now - started_at >= policy.stable_after:
            return replace(self, streak=0)
        return self


def restart_due(history: RestartHistory, *, now: float, policy: Backoff) -> bool:
    """Whether a dead process may be restarted now, given its crash streak."""
    if history.last_at is None:
        return True
    return now >= history.last_at + policy.delay(history.streak)


def left_to_controller(version: str, rollout: RolloutState | None) -> bool:
    """True for the challenger of a rollout that has not promoted it: a dead challenger is the
    controller's to judge (it rolls back), and a rolled-back one is about to be retired."""
    return rollout is not None and version == rollout.challenger and rollout.phase is not Phase.PROMOTED
