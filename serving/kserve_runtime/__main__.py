"""`python -m kubeloop.serving.kserve_runtime ...` runs one KServe model server."""

from kubeloop.serving.kserve_runtime.server import main

main()
