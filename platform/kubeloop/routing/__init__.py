"""Traffic routers: one narrow interface, one module per backend (gateway, KServe, Istio, Gateway API)."""

from kubeloop.routing.base import Routes, TrafficRouter

__all__ = ["Routes", "TrafficRouter"]
