"""`python -m kubeloop` runs the CLI."""

from kubeloop.cli import main

main()
