"""Prediction logs: every answered request, recorded off the request path and read back for analysis."""
