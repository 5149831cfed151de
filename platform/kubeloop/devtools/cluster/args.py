"""The command line of each control-plane process, from the layout alone (pure: no I/O).

The flags follow controller-runtime's envtest (etcd on loopback without fsync, the API server with its
own CA, RBAC and service-account keys) and add what envtest leaves out so that workloads behave as in a
cluster: the controller manager (service-account tokens and the per-namespace root CA, ReplicaSets,
Pods, garbage collection...), the scheduler, and kwok running fake nodes and pods.
"""

from __future__ import annotations

from pathlib import Path

from kubeloop.devtools.cluster.bootstrap import FRONT_PROXY_CLIENT
from kubeloop.devtools.cluster.layout import HOST, SERVICE_CIDR, Layout

ETCD_NAME = "kubeloop-test"


def etcd(layout: Layout, *, bin_dir: Path) -> list[str]:
    """etcd as a single member on loopback, its data in the state folder."""
    peer = f"http://{HOST}:{layout.ports.etcd_peer}"
    return [
        str(bin_dir / "etcd"), f"--name={ETCD_NAME}", f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={layout.etcd_url}", f"--advertise-client-urls={layout.etcd_url}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={ETCD_NAME}={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
    ]


def apiserver(layout: Layout, *, bin_dir: Path) -> list[str]:
    """kube-apiserver on loopback: TLS from our CA, client certificates, Node+RBAC, service-account keys."""
    return [
        str(bin_dir / "kube-apiserver"),
        f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={layout.ports.apiserver}",
        f"--etcd-servers={layout.etcd_url}",
        f"--tls-cert-file={layout.cert('apiserver')}", f"--tls-private-key-file={layout.key('apiserver')}",
        f"--client-ca-file={layout.ca_file}",
        "--authorization-mode=Node,RBAC",
        # As hardened clusters do: setting blockOwnerDeletion needs `update` on the owner's finalizers.
        "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
        f"--service-account-issuer={layout.server}",
        f"--service-account-key-file={layout.cert('service-account')}",
        f"--service-account-signing-key-file={layout.key('service-account')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        f"--requestheader-client-ca-file={layout.cert('front-proxy-ca')}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={layout.cert('front-proxy-client')}",
        f"--proxy-client-key-file={layout.key('front-proxy-client')}",
        # The `kubernetes` Service cannot point at a loopback address: keep its endpoints out.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        # What service accounts did and what they were refused, for tests of least privilege.
        f"--audit-policy-file={layout.audit_policy}", f"--audit-log-path={layout.audit_log}",
        "--audit-log-format=json", "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
    ]


def _component(layout: Layout, *, name: str, port: int) -> list[str]:
    """What the controller manager and the scheduler share: own kubeconfig, loopback health port."""
    kubeconfig = layout.kubeconfig(name)
    return [
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}", f"--bind-address={HOST}", f"--secure-port={port}",
        f"--tls-cert-file={layout.cert(name + '-serving')}",
        f"--tls-private-key-file={layout.key(name + '-serving')}",
        "--leader-elect=false",
    ]


def controller_manager(layout: Layout, *, bin_dir: Path) -> list[str]:
    """kube-controller-manager with the default controllers, each under its own service account."""
    return [
        str(bin_dir / "kube-controller-manager"),
        *_component(layout, name="controller-manager", port=layout.ports.controller_manager),
        "--use-service-account-credentials=true", "--profiling=false",
        f"--service-account-private-key-file={layout.key('service-account')}",
        f"--root-ca-file={layout.ca_file}",
        f"--cluster-signing-cert-file={layout.ca_file}", f"--cluster-signing-key-file={layout.key('ca')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
    ]


def scheduler(layout: Layout, *, bin_dir: Path) -> list[str]:
    """kube-scheduler with its default profile."""
    return [str(bin_dir / "kube-scheduler"),
            *_component(layout, name="scheduler", port=layout.ports.scheduler)]


def kwok(layout: Layout, *, bin_dir: Path, stages: Path) -> list[str]:
    """kwok managing every node, with the node and pod stages of its release (leases as heartbeats)."""
    return [
        str(bin_dir / "kwok"), f"--kubeconfig={layout.kubeconfig('kwok')}", f"--config={stages}",
        "--manage-all-nodes=true", "--node-lease-duration-seconds=40",
        f"--server-address={HOST}:{layout.ports.kwok}", "--node-ip=10.0.1.1", "--cidr=10.0.2.0/24",
    ]
