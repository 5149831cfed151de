"""The kubeloop gateway: an async HTTP router in front of model servers (split, mirror, admin API)."""
