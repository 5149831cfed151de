"""Hypothesis strategies for routes, shared by the builders' and KServe's round-trip tests."""

from __future__ import annotations

from hypothesis import strategies as st

from kubeloop.routing.base import Routes

VERSIONS = st.sampled_from(["1", "2", "3", "17"])


@st.composite
def routes(draw: st.DrawFn, *, min_weight: int = 0) -> Routes:
    """Any valid routes over a few versions; a canary gets at least `min_weight` percent."""
    stable = draw(VERSIONS)
    canary = draw(st.none() | VERSIONS.filter(lambda v: v != stable))
    shadow = draw(st.none() | VERSIONS.filter(lambda v: v != stable))
    return Routes(
        stable=stable,
        canary=canary,
        canary_weight=draw(st.integers(min_weight, 100)) if canary else 0,
        shadow=shadow,
        shadow_percent=draw(st.integers(1, 100)) if shadow else 0,
    )
