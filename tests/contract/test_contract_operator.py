"""The operator's reconcile against a recording API server, running the real rollout controller loop.

Given a ModelDeployment in the (fake) cluster and a registry whose challenger alias points at a new
version, when the operator reconciles on each interval, then the InferenceService receives exactly the
patches of the rollout, and the status carries each decision with its reason.
"""

from __future__ import annotations

import pytest
from apiserver import FakeApiServer
from operator_fakes import MD, VS, Clock, Registry, isvc_patches, manifest, reconciler, run

from kubeloop.k8s.api import KubeApi


def test_rollout_patches_10_25_50_then_promotes(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest())
    registry = Registry()
    outcomes = run(apiserver, reconciler(kube, registry, clock), clock, 6)
    assert outcomes == ["canary", "canary", "canary", "promoted", "promoted", "promoted"]
    assert isvc_patches(apiserver) == [
        (10, "4", "3"),
        (25, "4", "3"),
        (50, "4", "3"),
        (100, "4", "3"),
        (None, "4", "4"),
    ]
    assert registry.aliases["champion"] == "4" and "challenger" not in registry.aliases
    status = apiserver.objects[MD]["status"]
    assert status["phase"] == "promoted" and status["champion"] == "4" and status["challenger"] == "4"
    assert "promoting" in status["lastDecision"]["reason"] and status["lastDecision"]["action"] == "promote"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "BackendAvailable": "True",
        "Ready": "True",
        "RollingOut": "False",
        "SpecValid": "True",
    }
    decisions = [
        r.body["status"]["lastDecision"]
        for r in apiserver.requests
        if r.method == "PUT" and r.path == MD + "/status" and "lastDecision" in r.body["status"]
    ]
    reasons = [d["reason"] for d in decisions]
    assert any("advancing to 25%" in r for r in reasons) and any("advancing to 50%" in r for r in reasons)


def test_failing_checks_roll_back_with_weight_zero(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest())
    registry = Registry()
    outcomes = run(apiserver, reconciler(kube, registry, clock, value=0.5), clock, 4)
    assert outcomes[:3] == ["canary", "canary", "rolled-back"]
    assert isvc_patches(apiserver)[:2] == [(10, "4", "3"), (0, "4", "3")]
    # The retired challenger's predictor is replaced by the champion's, still at 0%: with no percent Knative
    # would send everything to its latest *ready* revision, the challenger's, until the champion's is up.
    assert isvc_patches(apiserver)[2:] == [(0, "3", "3")]
    status = apiserver.objects[MD]["status"]
    assert status["phase"] == "rolled-back" and "failure limit" in status["lastDecision"]["reason"]
    assert status["checks"] == [
        {
            "name": "errors",
            "result": "Fail",
            "value": 0.5,
            "threshold": 0.05,
            "message": status["checks"][0]["message"],
        }
    ]
    assert (
        registry.aliases["champion"] == "3" and registry.tags[-1]["kubeloop.rollout.outcome"] == "rolled-back"
    )


def test_mesh_rollout_waits_for_the_challenger_then_moves_weights(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest(router="istio"))
    operator = reconciler(kube, Registry(), clock)
    assert run(apiserver, operator, clock, 1) == ["waiting-for-challenger"]
    challenger = "/apis/serving.kserve.io/v1beta1/namespaces/models/inferenceservices/iris-v4"
    ready = dict(apiserver.objects[challenger], status={"conditions": [{"type": "Ready", "status": "True"}]})
    apiserver.put_object(challenger, ready)
    assert run(apiserver, operator, clock, 4) == ["canary", "canary", "canary", "promoted"]
    weights = [
        [d["weight"] for d in r.body["spec"]["http"][0]["route"]]
        for r in apiserver.requests
        if r.method == "PUT" and r.path == VS
    ]
    assert weights == [[90, 10], [75, 25], [50, 50], [0, 100], [100]]


def test_status_conflict_is_retried_with_a_fresh_read(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest())
    apiserver.fail("PUT", MD + "/status", 409)
    assert reconciler(kube, Registry(), clock).reconcile(namespace="models", name="iris") == "canary"
    status_calls = [(r.method, r.path) for r in apiserver.requests if r.path.startswith(MD)]
    first_put = status_calls.index(("PUT", MD + "/status"))
    assert status_calls[first_put + 1 : first_put + 3] == [("GET", MD), ("PUT", MD + "/status")]
    assert apiserver.objects[MD]["status"]["canaryWeight"] == 10


def test_deleted_resource_ends_reconciliation_cleanly(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    operator = reconciler(kube, Registry(), clock)
    assert operator.reconcile(namespace="models", name="iris") == "gone"
    apiserver.put_object(MD, manifest())
    apiserver.fail("PUT", MD + "/status", 404)
    assert operator.reconcile(namespace="models", name="iris") == "gone"


def test_invalid_spec_gives_a_condition_naming_the_field(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    bad = manifest()
    bad["spec"]["rollout"]["canary"]["steps"] = [10, 5]
    apiserver.put_object(MD, bad)
    assert reconciler(kube, Registry(), clock).reconcile(namespace="models", name="iris") == "invalid"
    conditions = {c["type"]: c for c in apiserver.objects[MD]["status"]["conditions"]}
    assert conditions["SpecValid"]["status"] == "False" and conditions["SpecValid"]["reason"] == "InvalidSpec"
    assert conditions["SpecValid"]["message"].startswith("spec.rollout.canary.steps: weights must increase")
    assert not [r for r in apiserver.requests if "inferenceservices" in r.path]


def test_missing_kserve_crd_gives_a_condition_not_a_crash(kube: KubeApi, clock: Clock) -> None:
    with FakeApiServer(groups=("kubeloop.io",)) as cluster:
        from kubernetes.client import ApiClient, Configuration

        api = KubeApi(ApiClient(Configuration(host=cluster.url)))
        cluster.put_object(MD, manifest())
        operator = reconciler(api, Registry(), clock)
        assert operator.reconcile(namespace="models", name="iris") == "backend-missing"
        assert operator.reconcile(namespace="models", name="iris") == "backend-missing"
        condition = next(
            c for c in cluster.objects[MD]["status"]["conditions"] if c["type"] == "BackendAvailable"
        )
        assert (
            condition["reason"] == "CrdMissing"
            and "inferenceservices.serving.kserve.io" in condition["message"]
        )
        assert "kserve installed" in condition["message"]


def test_finalizer_deletes_routes_before_servers(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    from kubeloop.k8s.operator import finalize, owned_kinds

    apiserver.put_object(MD, manifest(router="istio"))
    reconciler(kube, Registry(), clock).reconcile(namespace="models", name="iris")
    apiserver.requests.clear()
    # the VirtualService, two InferenceServices (champion, waiting challenger), two rules, the CronJob
    kinds = owned_kinds("istio", drift_engine="cronjob")
    assert finalize(kube, namespace="models", name="iris", kinds=kinds) == 6
    deleted = [r.path.rsplit("/", 2)[-2] for r in apiserver.requests if r.method == "DELETE"]
    assert deleted[0] == "virtualservices" and deleted[-1] == "cronjobs"
    assert deleted.index("inferenceservices") < deleted.index("destinationrules")
    lists = [r for r in apiserver.requests if r.method == "GET" and r.path.endswith("s")]
    assert lists  # listed by label selector


def test_kopf_handlers_are_registered_and_call_the_reconciler() -> None:
    import kopf

    from kubeloop.k8s.operator import register

    calls = []

    class Recorder:
        def reconcile(self, *, namespace: str, name: str) -> str:
            calls.append((namespace, name))
            return "stable"

    from kubeloop.k8s.operator import OperatorMetrics

    registry, metrics = kopf.OperatorRegistry(), OperatorMetrics()
    register(registry, reconciler=Recorder, metrics=metrics)
    handlers = registry._spawning.get_all_handlers() + registry._changing.get_all_handlers()
    timer = next(h for h in handlers if type(h).__name__ == "TimerHandler")
    assert timer.interval == 10.0 and timer.requires_finalizer
    reasons = {str(getattr(h, "reason", "")) for h in registry._changing.get_all_handlers()}
    assert {"create", "update", "delete"} <= {r.split(".")[-1].lower() for r in reasons}
    assert timer.fn(namespace="models", name="iris", body={}) is None and calls == [("models", "iris")]
    assert metrics.registry.get_sample_value("kubeloop_operator_reconcile_total", {"result": "stable"}) == 1.0
    assert metrics.registry.get_sample_value("kubeloop_operator_last_reconcile_timestamp_seconds") > 0


def test_a_refused_request_is_logged_and_posted_once_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import kopf

    from kubeloop.k8s.api import Forbidden
    from kubeloop.k8s.operator import OperatorMetrics, register

    class Refused:
        def reconcile(self, *, namespace: str, name: str) -> str:
            resource = "inferenceservices.serving.kserve.io"
            raise Forbidden(verb="create", resource=resource, namespace=namespace)

    posted: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "warn", lambda body, *, reason, message: posted.append((reason, message)))
    registry, metrics = kopf.OperatorRegistry(), OperatorMetrics()
    register(registry, reconciler=Refused, metrics=metrics)
    timer = next(h for h in registry._spawning.get_all_handlers() if type(h).__name__ == "TimerHandler")
    for _ in range(3):
        assert timer.fn(namespace="models", name="iris", body={}) is None  # the next tick tries again
    message = (
        "forbidden: may not create inferenceservices.serving.kserve.io in namespace models; add the verb "
        "'create' on inferenceservices.serving.kserve.io to the operator's ClusterRole (or Role)"
    )
    assert posted == [("Forbidden", message)]
    assert [r.getMessage() for r in caplog.records if r.name == "kubeloop.operator"] == [
        f"models/iris: {message}"
    ] * 3
    counted = metrics.registry.get_sample_value("kubeloop_operator_reconcile_total", {"result": "forbidden"})
    assert counted == 3


def test_only_the_routers_kinds_are_cleaned_up() -> None:
    from kubeloop.k8s.operator import owned_kinds

    def kinds(router: str, engine: str = "cronjob") -> list[str]:
        return [kind for _, _, kind in owned_kinds(router, drift_engine=engine)]

    assert kinds("kserve") == ["InferenceService", "CronJob"]
    assert kinds("istio") == ["VirtualService", "InferenceService", "DestinationRule", "CronJob"]
    assert kinds("gateway-api", "argo") == ["HTTPRoute", "InferenceService", "CronWorkflow"]


def test_cluster_controller_measures_the_model_servers_not_a_gateway() -> None:
    from kubeloop.k8s.reconcile import ClusterController
    from kubeloop.rollout.state import initial_state
    from kubeloop.spec import RolloutSpec
    from kubeloop.telemetry.names import REQUESTS_TOTAL

    state = initial_state(
        deployment="iris", model="m", champion="3", challenger="4", spec=RolloutSpec(), now=0.0
    )
    subject = ClusterController.__new__(ClusterController)
    subject.ports = type("P", (), {"task": None})()
    found = subject._subject(state)
    assert found.requests_metric == REQUESTS_TOTAL and found.retries_metric is None
    assert (found.champion, found.challenger) == ("3", "4")


def test_a_restarted_operator_resumes_from_the_status(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest())
    registry = Registry()
    assert run(apiserver, reconciler(kube, registry, clock), clock, 2) == ["canary", "canary"]
    assert apiserver.objects[MD]["status"]["canaryWeight"] == 25
    fresh = reconciler(kube, registry, clock)  # a new process: nothing in memory, only the status
    assert run(apiserver, fresh, clock, 2) == ["canary", "promoted"]
    assert [p[0] for p in isvc_patches(apiserver)] == [10, 25, 50, 100, None]
