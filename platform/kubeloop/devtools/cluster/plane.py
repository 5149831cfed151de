"""A running test control plane and the handles a test needs: kubeconfig, admin client, kubectl, and
kubeconfigs for service accounts (their tokens from the TokenRequest API)."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes

from kubeloop.devtools.cluster import kubeconfig as kubeconfigs
from kubeloop.devtools.cluster.layout import Layout
from kubeloop.devtools.cluster.processes import read_pids, stop_all, wait_until

TOKEN_SECONDS = 3600
# The API server compiles every schema (KServe's and Argo's run to megabytes): minutes on a busy machine.
CRD_TIMEOUT = 600.0
SERVERS_LAST = ("kube-apiserver", "etcd")  # stopped after their clients, in this order


class KubectlError(subprocess.CalledProcessError):
    """kubectl failed; the message carries what it printed on stderr."""

    def __str__(self) -> str:
        return f"kubectl {' '.join(self.cmd[2:])} failed ({self.returncode}): {self.stderr.strip()}"


@dataclass(frozen=True)
class ControlPlane:
    """A control plane started under `layout.root`; `bin_dir` holds the binaries it runs (kubectl too)."""

    layout: Layout
    bin_dir: Path
    # The processes this interpreter started (none for one loaded from its state folder): `stop` waits on
    # each, so no Popen is dropped while its process runs.
    children: tuple[subprocess.Popen[bytes], ...] = field(default=(), compare=False, repr=False)

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (client certificate in system:masters)."""
        return self.layout.admin_kubeconfig

    @property
    def server(self) -> str:
        """The API server's https URL on loopback."""
        return self.layout.server

    def configuration(self) -> kubernetes.client.Configuration:
        """An admin `kubernetes` client configuration (not made the library's default)."""
        config = kubernetes.client.Configuration()
        config.host = self.server
        config.ssl_ca_cert = str(self.layout.ca_file)
        config.cert_file = str(self.layout.cert("admin"))
        config.key_file = str(self.layout.key("admin"))
        return config

    def api_client(self) -> kubernetes.client.ApiClient:
        """An admin ApiClient (close it, or use it in a `with` block)."""
        return kubernetes.client.ApiClient(self.configuration())

    def kubectl(self, *args: str, kubeconfig: Path | None = None, stdin: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl of the same release against this cluster (as admin unless `kubeconfig` is given)."""
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, timeout=600)
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def service_account_token(self, *, namespace: str, name: str,
                              expiration_seconds: int = TOKEN_SECONDS) -> str:
        """A bound token for an existing ServiceAccount, from the TokenRequest API (as a kubelet gets one)."""
        request = kubernetes.client.AuthenticationV1TokenRequest(
            spec=kubernetes.client.V1TokenRequestSpec(audiences=[self.server],
                                                      expiration_seconds=expiration_seconds))
        with self.api_client() as api:
            answer = kubernetes.client.CoreV1Api(api).create_namespaced_service_account_token(
                name, namespace, request)
        token: str = answer.status.token
        return token

    def service_account_kubeconfig(self, *, namespace: str, name: str, path: Path | None = None,
                                   expiration_seconds: int = TOKEN_SECONDS) -> Path:
        """Write a kubeconfig that acts as the ServiceAccount namespace/name (default namespace: its own)."""
        token = self.service_account_token(namespace=namespace, name=name,
                                           expiration_seconds=expiration_seconds)
        config = kubeconfigs.kubeconfig(server=self.server, ca_pem=self.layout.ca_file.read_bytes(),
                                        user=f"system:serviceaccount:{namespace}:{name}",
                                        credentials=kubeconfigs.token_credentials(token), namespace=namespace)
        return kubeconfigs.write(path or self.layout.kubeconfig(f"sa-{namespace}-{name}"), config)

    def get(self, path: str) -> bytes | None:
        """GET a path of the API server as the admin; None unless it answers 200."""
        return admin_get(f"{self.server}{path}", layout=self.layout, timeout=10)

    def served(self, crd_names: list[str]) -> list[str]:
        """Those CRDs (named `<plural>.<group>`) whose resources the API server's discovery lists.

        Discovery is small; listing CRDs sends their megabyte schemas, seconds of server time each call.
        """
        resources: set[str] = set()
        for group in {name.split(".", 1)[1] for name in crd_names}:
            versions = json.loads(self.get(f"/apis/{group}") or b'{"versions": []}')["versions"]
            for version in versions:
                listing = json.loads(self.get(f"/apis/{version['groupVersion']}") or b'{"resources": []}')
                resources |= {f"{r['name']}.{group}" for r in listing["resources"]}
        return [name for name in crd_names if name in resources]

    def wait_for_crds(self, crd_names: list[str], *, timeout: float = CRD_TIMEOUT) -> None:
        """Wait until the API server serves every one of these CRDs (Established)."""
        wait_until(lambda: len(self.served(crd_names)) == len(crd_names),
                   what=f"{len(crd_names)} CRDs served", timeout=timeout, interval=1.0)

    def running(self) -> list[str]:
        """The processes recorded as started (they may have exited since)."""
        return list(read_pids(pids_file(self.layout.root)))

    def stop(self) -> list[str]:
        """Stop every process of this control plane; returns the names of those that were running."""
        stopped = stop_all(pids_file(self.layout.root), last=SERVERS_LAST)
        for child in self.children:  # reaped by pid already: each Popen learns it has ended
            child.wait(timeout=5)
        return stopped

    @classmethod
    def load(cls, root: Path, *, bin_dir: Path) -> ControlPlane:
        """The control plane recorded in a state folder (by `cluster up` or a test session)."""
        return cls(layout=Layout.load(root), bin_dir=bin_dir)


def admin_get(url: str, *, layout: Layout, timeout: float = 2.0) -> bytes | None:
    """GET as the admin (TLS checked against the cluster CA; plain for etcd); None unless 200."""
    context = ssl.create_default_context(cafile=str(layout.ca_file))
    context.load_cert_chain(layout.cert("admin"), layout.key("admin"))
    try:
        tls = None if url.startswith("http:") else context
        with urllib.request.urlopen(url, timeout=timeout, context=tls) as answer:
            body: bytes = answer.read()
            return body if answer.status == 200 else None
    except OSError:
        return None


def pids_file(root: Path) -> Path:
    """Where the process ids of the control plane under `root` are recorded."""
    return root / "pids.json"
