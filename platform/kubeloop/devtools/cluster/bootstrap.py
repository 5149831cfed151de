"""The files a fresh control plane needs before any process starts: certificates, keys and kubeconfigs."""

from __future__ import annotations

from dataclasses import dataclass

from kubeloop.devtools.cluster import kubeconfig, pki
from kubeloop.devtools.cluster.layout import HOST, SERVICE_IP, Layout

SERVING_HOSTS = (HOST, "localhost", SERVICE_IP, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local")

SERVING_COMPONENTS = ("controller-manager", "scheduler")
FRONT_PROXY_CLIENT = "front-proxy-client"


@dataclass(frozen=True)
class Client:
    """A client of the API server, authenticated by a certificate with this user and these groups."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


# The controller manager and the scheduler under the identities their default RBAC roles bind; the
# admin and kwok (test machinery acting for every node) in system:masters.
CLIENTS = (
    Client("admin", "kubeloop-admin", ("system:masters",)),
    Client("controller-manager", "system:kube-controller-manager"),
    Client("scheduler", "system:kube-scheduler"),
    Client("kwok", "kwok-controller", ("system:masters",)),
)


# Every request of a service account outside kube-system, at Metadata level (user, user agent, verb,
# resource, response code): what workloads such as the operator did and what RBAC refused them. The
# control plane's own controllers and the admin are left out, to keep the log small.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    userGroups: ["system:serviceaccounts:kube-system"]
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"""


def write_files(layout: Layout) -> None:
    """Create the CA, the serving certificate, the service-account keys, one kubeconfig per client and
    the audit policy."""
    layout.audit_policy.write_text(AUDIT_POLICY)
    layout.pki.mkdir(parents=True, exist_ok=True)
    layout.pki.chmod(0o700)
    ca = pki.new_ca("kubeloop-test-ca")
    ca.write(cert=layout.ca_file, key=layout.key("ca"))
    pki.issue(ca, common_name="kube-apiserver", hosts=SERVING_HOSTS).write(
        cert=layout.cert("apiserver"), key=layout.key("apiserver"))
    for component in SERVING_COMPONENTS:  # their health endpoints, checked against our CA
        pki.issue(ca, common_name=component, hosts=(HOST, "localhost")).write(
            cert=layout.cert(f"{component}-serving"), key=layout.key(f"{component}-serving"))
    # The aggregation layer's front proxy, as kubeadm sets it up: its own CA and client certificate.
    front_proxy = pki.new_ca("kubeloop-test-front-proxy-ca")
    front_proxy.write(cert=layout.cert("front-proxy-ca"), key=layout.key("front-proxy-ca"))
    pki.issue(front_proxy, common_name=FRONT_PROXY_CLIENT).write(
        cert=layout.cert("front-proxy-client"), key=layout.key("front-proxy-client"))
    pki.service_account_keys().write(cert=layout.cert("service-account"), key=layout.key("service-account"))
    for client in CLIENTS:
        pair = pki.issue(ca, common_name=client.user, organizations=client.groups)
        pair.write(cert=layout.cert(client.name), key=layout.key(client.name))
        config = kubeconfig.kubeconfig(
            server=layout.server, ca_pem=ca.cert_pem, user=client.user,
            credentials=kubeconfig.certificate_credentials(cert_pem=pair.cert_pem, key_pem=pair.key_pem))
        kubeconfig.write(layout.kubeconfig(client.name), config)
