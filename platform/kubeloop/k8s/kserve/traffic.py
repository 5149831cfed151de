"""Routes onto one InferenceService and back, for each way KServe splits traffic; pure, given the live object.

Knative mode (`canaryTrafficPercent`): KServe splits between the latest revision (the predictor in
the spec) and the last one rolled out at 100%. A canary puts the challenger in the predictor at its
weight; promotion drops the percent; a rollback sets it to 0, so every request goes back to the
champion's revision at once without a new revision. Retiring that challenger puts the champion back
in the predictor still at 0% (with no percent Knative would send everything to the latest *ready*
revision, the challenger's, until the champion's new one is up). A late rollback after promotion
must wait for the champion's new revision: KServe cannot route to an older revision by name.

Standard mode (`spec.canary`, KServe 0.20+): the stable predictor and named canaries (`v<version>`),
each its own Deployment. A canary is an entry at its weight; every other version the object already
runs stays as a dark entry (0%) until it is retired, which is how the previous champion is kept warm
after a promotion (the stable predictor is renamed to the canary's name: no restart) and how a
rollback is instant. KServe cannot mirror: a shadow runs as a second InferenceService and the
collector replays the logged requests to it (see `mirror` in the logger URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.modes import Split
from kubeloop.k8s.kserve.resources import (
    STABLE_ANNOTATION,
    VERSION_LABEL,
    Mirror,
    Replicas,
    inference_service,
    mirror_to_shadow,
    predictor,
)
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import ModelDeployment


@dataclass(frozen=True, kw_only=True)
class Live:
    """What the live InferenceService carries: stable version, the predictor's, its percent, its canaries."""

    stable: str | None = None
    serving: str | None = None
    percent: int | None = None
    canaries: tuple[tuple[str, int], ...] = ()  # (version, trafficPercent) of each spec.canary entry

    @classmethod
    def of(cls, isvc: dict[str, Any] | None) -> Live:
        """Read the parts of a live InferenceService that decide how to move its traffic."""
        if isvc is None:
            return cls()
        spec = isvc.get("spec") or {}
        pred = spec.get("predictor") or {}
        canaries = tuple(
            (
                (entry.get("predictor") or {}).get("labels", {}).get(VERSION_LABEL),
                int(entry.get("trafficPercent", 0)),
            )
            for entry in spec.get("canary") or ()
        )
        return cls(
            stable=((isvc.get("metadata") or {}).get("annotations") or {}).get(STABLE_ANNOTATION),
            serving=(pred.get("labels") or {}).get(VERSION_LABEL),
            percent=pred.get("canaryTrafficPercent"),
            canaries=tuple((v, p) for v, p in canaries if v is not None),
        )


@dataclass(frozen=True, kw_only=True)
class Target:
    """One InferenceService of a deployment and how KServe splits its traffic."""

    deployment: ModelDeployment
    config: ClusterConfig
    split: Split
    mode: str  # the deploymentMode annotation to write (the live object's, never changed)
    owner_uid: str | None = None


def main_isvc(target: Target, routes: Routes, *, change: RouteChange, live: Live) -> dict[str, Any]:
    """The deployment's InferenceService carrying `routes`, moved the way `change` means."""
    mirror = None
    if routes.shadow is not None and routes.shadow_percent:
        mirror = mirror_to_shadow(target.deployment, percent=routes.shadow_percent, version=routes.shadow)
    build = _knative_spec if target.split is Split.CANARY_PERCENT else _standard_spec
    spec, serving, role = build(target, routes, change, live, mirror)
    return inference_service(
        target.deployment,
        config=target.config,
        name=target.deployment.name,
        version=serving,
        role=role,
        spec=spec,
        mode=target.mode,
        stable_version=routes.stable,
        owner_uid=target.owner_uid,
    )


def retired_isvc(target: Target, version: str, *, live: Live, routes: Routes) -> dict[str, Any] | None:
    """The InferenceService without `version`'s server; None when it has none to stop (or routes name it)."""
    if version in routes.versions():
        return None
    if target.split is Split.CANARY_SPEC:
        if version not in dict(live.canaries):
            return None
        kept = Live(
            stable=live.stable,
            serving=live.serving,
            canaries=tuple(c for c in live.canaries if c[0] != version),
        )
        return main_isvc(target, routes, change=RouteChange.STEP, live=kept)
    if live.serving != version:
        return None  # Knative keeps no spec for older revisions; they scale down without traffic
    # Back to the stable version at 0%: its rolled-out revision keeps every request while the new one starts.
    return main_isvc(
        target,
        routes,
        change=RouteChange.STEP,
        live=Live(stable=live.stable, serving=routes.stable, percent=0),
    )


def _knative_spec(
    target: Target, routes: Routes, change: RouteChange, live: Live, mirror: Mirror | None
) -> tuple[dict[str, Any], str, str]:
    serving, role, percent = _knative_predictor(routes, change, live)
    built = predictor(
        target.deployment,
        config=target.config,
        version=serving,
        role=role,
        canary_percent=percent,
        mirror=mirror,
    )
    built.setdefault("canaryTrafficPercent", None)  # null removes it: 100% to the latest revision
    return {"predictor": built}, serving, role


def _knative_predictor(routes: Routes, change: RouteChange, live: Live) -> tuple[str, str, int | None]:
    """(version in the predictor, its role, canaryTrafficPercent) for these routes on this live object."""
    if routes.canary is not None:
        return routes.canary, "challenger", routes.canary_weight
    stable = routes.stable
    canary_live = live.serving not in (None, stable) and live.stable == stable
    if canary_live and (change is RouteChange.ROLLBACK or live.percent == 0):
        return str(live.serving), "challenger", 0  # every request to the champion's revision, now
    if change is not RouteChange.PROMOTE and live.serving == stable and live.stable == stable:
        return stable, "champion", live.percent  # nothing moves: leave KServe's split as it is
    return stable, "champion", None


def _standard_spec(
    target: Target, routes: Routes, change: RouteChange, live: Live, mirror: Mirror | None
) -> tuple[dict[str, Any], str, str]:
    deployment, config = target.deployment, target.config
    stable_min = deployment.spec.serving.autoscaling.min_replicas
    stable = predictor(
        deployment,
        config=config,
        version=routes.stable,
        role="champion",
        mirror=mirror,
        name=f"v{routes.stable}",
    )
    others = [
        v
        for v in (live.serving, *dict(live.canaries))
        if v is not None and v not in (routes.stable, routes.canary)
    ]
    entries: list[tuple[str, int, str, int | None]] = []
    if routes.canary is not None:
        entries.append((routes.canary, routes.canary_weight, "challenger", None))
    entries += [(v, 0, "standby", min(1, stable_min)) for v in dict.fromkeys(others)]
    canary = [
        {
            "trafficPercent": weight,
            "predictor": predictor(
                deployment,
                config=config,
                version=version,
                role=role,
                name=f"v{version}",
                replicas=Replicas(min=fixed, max=None),
            ),
        }
        for version, weight, role, fixed in entries
    ]
    return {"predictor": stable, "canary": canary}, routes.stable, "champion"


def routes_from_isvc(isvc: dict[str, Any]) -> Routes | None:
    """The routes an InferenceService carries; a weight-0 canary (rolled back, or kept warm) reads as none."""
    live = Live.of(isvc)
    if live.stable is None or live.serving is None:
        return None
    weighted = [(v, p) for v, p in live.canaries if p > 0]
    if weighted:
        canary, weight = weighted[0]
    elif live.serving != live.stable and live.percent:
        canary, weight = live.serving, int(live.percent)
    else:
        canary, weight = None, 0
    pred = isvc.get("spec", {}).get("predictor", {})
    query = parse_qs(urlsplit(pred.get("logger", {}).get("url", "")).query)
    shadow_percent = int(query.get("mirrorPercent", ["0"])[0])
    shadow = query.get("shadowVersion", [None])[0] if shadow_percent else None
    return Routes(
        stable=live.stable,
        canary=canary,
        canary_weight=weight,
        shadow=shadow,
        shadow_percent=shadow_percent if shadow else 0,
    )
