"""The errors kubeloop raises for users: each carries a one-line message that says what is wrong."""


class KubeloopError(Exception):
    """A failure the user can act on; the CLI prints its message as one line and exits 1."""


class SpecError(KubeloopError):
    """A ModelDeployment or other config was refused; the message names the field path."""


class NotFoundError(KubeloopError):
    """A model, version, deployment or run that was asked for does not exist."""


class IntegrityError(KubeloopError):
    """An artifact does not match the digest recorded for it at registration."""


class BackendUnavailable(KubeloopError):
    """An external system (tracking server, Prometheus, model server) could not be reached."""
