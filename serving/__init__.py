"""The data plane: model-server core, BentoML and KServe runtimes, the gateway, prediction logging."""
