"""The operator, under the chart's RBAC for the mesh routers, rolls a model out through Istio
VirtualServices and Gateway API HTTPRoutes on the real API server, and refuses a spec it cannot run.

For each router: the chart's RBAC for that router.type, the operator with its ServiceAccount's token, a
ModelDeployment whose challenger alias is set; a watch on the route object sees each state once in
order (the champion alone, the challenger mirrored, 25%, 50%, 100%, the challenger alone); deleting the
ModelDeployment removes the route object; a ModelDeployment naming the local gateway as its router is
refused with SpecValid False naming `spec.router` (and a Warning event); no request is refused.
kwok runs no servers: the metrics the checks read come from the test's exporters (traffic.py).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from audit import forbidden
from models_registry import Models
from operator_env import (
    Operators,
    apply,
    conditions,
    deployment_manifest,
    exists,
    forget_deployments,
    operator_release,
    rollout_at,
    status_of,
    wait_until,
)
from prometheus_harness import LocalPrometheus
from traffic import Traffic, mark_ready
from watching import recording

from kubeloop.devtools.cluster import ControlPlane
from kubeloop.k8s.meta import version_isvc_name
from kubeloop.k8s.reconcile import deployment_from_object
from kubeloop.registry.names import CHALLENGER, CHAMPION

pytestmark = pytest.mark.cluster
ROLLOUT_TIMEOUT = 120.0


def _vs_weights(vs: dict[str, Any]) -> tuple[tuple[int, ...], float]:
    """(the weights of the VirtualService's destinations, its mirror percentage)."""
    (route,) = vs["spec"]["http"]
    return tuple(d["weight"] for d in route["route"]), float((route.get("mirrorPercentage") or {})
                                                              .get("value", 0))


def _httproute_weights(route: dict[str, Any]) -> tuple[tuple[int, ...], float]:
    """(the weights of the HTTPRoute's backends, its RequestMirror percent)."""
    (rule,) = route["spec"]["rules"]
    mirrors = [f["requestMirror"].get("percent", 0) for f in rule.get("filters", [])
               if f["type"] == "RequestMirror"]
    return tuple(b["weight"] for b in rule["backendRefs"]), float(sum(mirrors))


ROUTERS = {
    "istio": ("networking.istio.io", "v1", "virtualservices", "virtualservice", _vs_weights),
    "gateway-api": ("gateway.networking.k8s.io", "v1", "httproutes", "httproute", _httproute_weights),
}
# Stable, shadow (50% mirrored), canary 25% and 50%, promotion (every request to the challenger), then
# the challenger alone as the stable route.
EXPECTED = [((100,), 0.0), ((100,), 50.0), ((75, 25), 0.0), ((50, 50), 0.0), ((0, 100), 0.0), ((100,), 0.0)]


def _spec_refused(plane: ControlPlane, namespace: str, name: str) -> Any:
    """A check returning the SpecValid condition once it is False."""
    def refused() -> dict[str, Any] | None:
        found = conditions(status_of(plane, namespace=namespace, name=name)).get("SpecValid")
        return found if found and found["status"] == "False" else None
    return refused


@pytest.mark.parametrize("router", list(ROUTERS))
def test_a_rollout_through_the_routers_objects(
        router: str, installed_crds: ControlPlane, namespace: str, models: Models, traffic: Traffic,
        prometheus: LocalPrometheus, tmp_path: Path) -> None:
    plane = installed_crds
    group, version, plural, kind, weights = ROUTERS[router]
    release = operator_release(plane, namespace=namespace, router=router)
    operators = Operators(release=release, folder=tmp_path, tracking_uri=models.settings.tracking_uri,
                          prometheus_url=prometheus.url)
    model = f"iris-{namespace[-6:]}"
    champion, challenger = models.versions(model, 2)
    manifest = deployment_manifest(name="iris", namespace=namespace, model=model, router=router)
    traffic.follow(deployment_from_object(manifest))
    started = time.time()
    try:
        with plane.api_client() as client, recording(client, group=group, version=version, plural=plural,
                                                     namespace=namespace, summary=weights) as routes:
            with operators.run(f"op-{router}") as operator:
                operator.wait_active()
                apply(plane, manifest)
                wait_until(lambda: exists(plane, kind, "iris", namespace=namespace), what=f"the {kind}")
                models.registry.set_alias(name=model, alias=CHALLENGER, version=challenger)
                # The challenger's own InferenceService; Ready set as KServe's controller would once its
                # pods answer (kwok runs none), which the rollout waits for.
                server = version_isvc_name(deployment_from_object(manifest), challenger)
                wait_until(lambda: exists(plane, "inferenceservice", server, namespace=namespace),
                           what=f"InferenceService {server}")
                mark_ready(client, namespace=namespace, name=server)
                wait_until(rollout_at(plane, namespace, "promoted"), what="promotion",
                           timeout=ROLLOUT_TIMEOUT)

                bad = deployment_manifest(name="local", namespace=namespace, model=model, router="gateway")
                apply(plane, bad)
                refused = wait_until(_spec_refused(plane, namespace, "local"), what="SpecValid False")
                plane.kubectl("delete", "modeldeployment", "iris", "local", "-n", namespace, "--timeout=60s")
                assert not exists(plane, kind, "iris", namespace=namespace)
                events = plane.kubectl("get", "events", "-n", namespace, "--field-selector",
                                       "involvedObject.name=local,type=Warning", "-o", "name").stdout
    finally:
        traffic.unfollow("iris")
        forget_deployments(plane, namespace=namespace)
        release.delete()

    assert routes.versions["iris"] == EXPECTED, routes.versions["iris"]
    assert models.registry.version_for_alias(model, CHAMPION).version == challenger != champion
    message = refused["message"]
    assert message.startswith("spec.router: 'gateway' is the local gateway; on Kubernetes use"), message
    assert events.strip(), "no Warning event for the refused spec"
    assert forbidden(plane, user=release.user, since=started) == []
