"""KFP v2 components and pipelines; each component is thin and calls kubeloop code."""
