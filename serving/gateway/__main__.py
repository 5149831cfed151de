"""`python -m kubeloop.serving.gateway ...` runs the gateway."""

from kubeloop.serving.gateway.server import main

main()
