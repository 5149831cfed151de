"""Kubernetes mode: the ModelDeployment CRD, builders of the objects the operator creates, the operator."""
