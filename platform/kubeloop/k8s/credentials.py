"""Credentials for the Kubernetes API where kopf and the client look for them: in a pod its
ServiceAccount's, elsewhere the kubeconfig's current context ($KUBECONFIG, else ~/.kube/config)."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import config as kube_config
from kubernetes.client import Configuration

from kubeloop.errors import BackendUnavailable

POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_KUBECONFIG = "~/.kube/config"


def load_credentials(configuration: Configuration | None = None) -> str:
    """Fill `configuration` (None: the client's default one) and return the namespace commands default to:
    the pod's own, else the current context's, else "default"."""
    try:
        kube_config.load_incluster_config(client_configuration=configuration)
    except kube_config.ConfigException:
        return _load_kubeconfig(configuration)
    return POD_NAMESPACE_FILE.read_text().strip() if POD_NAMESPACE_FILE.is_file() else "default"


def _load_kubeconfig(configuration: Configuration | None) -> str:
    # $KUBECONFIG is read now: the client reads it once, when it is imported.
    path = os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    try:
        kube_config.load_kube_config(config_file=path, client_configuration=configuration)
        _contexts, current = kube_config.list_kube_config_contexts(config_file=path)
    except (kube_config.ConfigException, OSError, ValueError) as error:
        raise BackendUnavailable(
            f"no Kubernetes credentials: not in a pod, and the kubeconfig {path} gives none ({error})"
        ) from None
    return str((current.get("context") or {}).get("namespace") or "default")
