"""Replaying an action does nothing once it is in effect, even when a crash stopped it half-way."""

from __future__ import annotations

import pytest
from controller_fakes import FakeRegistry

from kubeloop.controller.actions import execute
from kubeloop.rollout.actions import FlipAliases, RetireServer, SetRoutes
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.routing.memory import MemoryRouter, MemoryServers

FLIP = FlipAliases(model="iris-clf", new_champion="2", old_champion="1")
PROMOTED = {"champion": "2", "previous": "1"}


def run(action: object, registry: FakeRegistry, router: MemoryRouter | None = None) -> bool:
    router = router or MemoryRouter(Routes(stable="1"))
    return execute(action, router=router, servers=MemoryServers(router), registry=registry)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "half_done",
    [
        {"champion": "1", "challenger": "2"},  # nothing written yet
        {"champion": "1", "challenger": "2", "previous": "1"},  # died after `previous`
        {"champion": "2", "challenger": "2", "previous": "1"},  # died before the challenger alias was cleared
        {"champion": "2", "challenger": "2"},  # another registry wrote champion alone
    ],
)
def test_a_half_done_promotion_is_finished_on_replay(half_done: dict[str, str]) -> None:
    registry = FakeRegistry(aliases=dict(half_done))
    assert run(FLIP, registry) is True
    assert registry.aliases == PROMOTED


def test_a_finished_promotion_is_left_alone() -> None:
    registry = FakeRegistry(aliases=dict(PROMOTED))
    assert run(FLIP, registry) is False and registry.calls == []


def test_routes_in_effect_are_not_set_again_and_their_meaning_reaches_the_router() -> None:
    router = MemoryRouter(Routes(stable="1"))
    registry = FakeRegistry()
    assert run(SetRoutes(deployment="iris", routes=Routes(stable="1")), registry, router) is False
    back = SetRoutes(deployment="iris", routes=Routes(stable="3"), change=RouteChange.ROLLBACK)
    assert run(back, registry, router) is True and router.changes == [RouteChange.ROLLBACK]


def test_retiring_goes_to_the_servers_and_spares_a_routed_version() -> None:
    router = MemoryRouter(Routes(stable="1"))
    servers = MemoryServers(router, running={"1", "2"})
    for version in ("2", "1", "2"):
        execute(
            RetireServer(deployment="iris", version=version),
            router=router,
            servers=servers,
            registry=FakeRegistry(),
        )
    assert servers.retired == ["2"] and servers.ready("1")
