"""Prometheus metric names and label sets, shared by exporters, PromQL checks, dashboards and alerts."""
