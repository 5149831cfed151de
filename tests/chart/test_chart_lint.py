"""`helm lint --strict` passes for the defaults and every ci/ scenario."""

from __future__ import annotations

import pytest
from rendering import CHART, SCENARIOS, helm, values_args

pytestmark = pytest.mark.k8s


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lint_strict(scenario: str) -> None:
    result = helm("lint", "--strict", str(CHART), *values_args(scenario))
    assert "0 chart(s) failed" in result.stdout


def test_every_ci_scenario_is_covered() -> None:
    assert {"minimal", "production", "istio", "gateway-api", "monitoring-off"} <= set(SCENARIOS)
