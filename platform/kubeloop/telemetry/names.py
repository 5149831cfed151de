"""Every Prometheus metric kubeloop exports, spelled once; dashboards and alerts are checked against these."""

LABELS = ("deployment", "model", "version", "role")

# Model servers (both runtimes).
REQUESTS_TOTAL = "kubeloop_requests_total"  # counter: LABELS + status
REQUEST_DURATION = "kubeloop_request_duration_seconds"  # histogram: LABELS
PREDICTIONS_TOTAL = "kubeloop_predictions_total"  # counter: LABELS + class (classifiers)
PREDICTION_VALUE = "kubeloop_prediction_value"  # histogram: LABELS (regressors)
PREDLOG_QUEUE_DEPTH = "kubeloop_predlog_queue_depth"  # gauge
PREDLOG_DROPPED_TOTAL = "kubeloop_predlog_dropped_total"  # counter
PREDLOG_WRITTEN_TOTAL = "kubeloop_predlog_written_total"  # counter: records at least one sink accepted
PREDLOG_LOST_TOTAL = "kubeloop_predlog_lost_total"  # counter: records every sink refused (never stored)
PREDLOG_SINK_FAILURES_TOTAL = "kubeloop_predlog_sink_failures_total"  # counter: sink; records it refused

# Gateway.
GATEWAY_REQUESTS_TOTAL = "kubeloop_gateway_requests_total"  # counter: deployment, version, role, status
GATEWAY_REQUEST_DURATION = "kubeloop_gateway_request_duration_seconds"  # histogram: deployment, version, role
GATEWAY_MIRROR_DROPPED_TOTAL = "kubeloop_gateway_mirror_dropped_total"  # counter: deployment
GATEWAY_RETRIES_TOTAL = "kubeloop_gateway_retries_total"  # counter: deployment
GATEWAY_ROUTE_WEIGHT = "kubeloop_gateway_route_weight"  # gauge: deployment, version, role

# Rollouts.
ROLLOUT_PHASE = "kubeloop_rollout_phase"  # gauge 0/1: deployment, phase
ROLLOUT_CANARY_WEIGHT = "kubeloop_rollout_canary_weight"  # gauge: deployment
ROLLOUT_CHECK_VALUE = "kubeloop_rollout_check_value"  # gauge: deployment, check
ROLLOUT_CHECK_THRESHOLD = "kubeloop_rollout_check_threshold"  # gauge: deployment, check
# gauge: deployment, check; 1 pass, 0 inconclusive, -1 fail
ROLLOUT_CHECK_STATUS = "kubeloop_rollout_check_status"
ROLLOUT_DECISIONS_TOTAL = "kubeloop_rollout_decisions_total"  # counter: deployment, kind, reason
ROLLOUT_STEP_STARTED = "kubeloop_rollout_step_started_timestamp_seconds"  # gauge: deployment

# Drift and retraining.
DRIFT_SHARE = "kubeloop_drift_share"  # gauge: deployment, model, version
DRIFT_SCORE = "kubeloop_drift_score"  # gauge: deployment, model, version, feature
DRIFT_DETECTED = "kubeloop_drift_detected"  # gauge 0/1: deployment, model, version
DRIFT_ROWS = "kubeloop_drift_rows"  # gauge: deployment, model, version
DRIFT_LAST_RUN = "kubeloop_drift_last_run_timestamp_seconds"  # gauge: deployment
RETRAINS_TOTAL = "kubeloop_retrains_total"  # counter: deployment, reason
PIPELINE_RUNS_TOTAL = "kubeloop_pipeline_runs_total"  # counter: pipeline, state

# Labels and online quality. Quality gauges carry LABELS + metric (accuracy, macro-f1, log-loss, brier,
# ece, mae, rmse, r2, precision, recall, f1) and class ("" for whole-model metrics).
LABELS_RECEIVED_TOTAL = "kubeloop_labels_received_total"  # counter: deployment, outcome
LABELS_STORED = "kubeloop_labels_stored"  # gauge: deployment
LABELS_UNMATCHED = "kubeloop_labels_unmatched"  # gauge: deployment (labels whose prediction is not logged)
QUALITY_VALUE = "kubeloop_quality_value"  # gauge: LABELS + metric, class
QUALITY_LOWER = "kubeloop_quality_lower"  # gauge: LABELS + metric, class (interval's lower bound)
QUALITY_UPPER = "kubeloop_quality_upper"  # gauge: LABELS + metric, class
QUALITY_LABELED_ROWS = "kubeloop_quality_labeled_rows"  # gauge: LABELS
QUALITY_EFFECTIVE_ROWS = "kubeloop_quality_effective_rows"  # gauge: LABELS (Kish effective sample size)
QUALITY_LAST_RUN = "kubeloop_quality_last_run_timestamp_seconds"  # gauge: deployment
# gauge: deployment, model, version, metric: the version's own holdout figure (its training evaluation)
QUALITY_OFFLINE = "kubeloop_quality_offline"

# Local mode's supervisor.
LOCAL_RESTARTS_TOTAL = "kubeloop_local_restarts_total"  # counter: kind, deployment, version
# Local mode's controller: scrapes of a server's or the gateway's /metrics that failed.
LOCAL_SCRAPE_FAILURES_TOTAL = "kubeloop_local_scrape_failures_total"  # counter: deployment, target

# Operator.
RECONCILE_TOTAL = "kubeloop_operator_reconcile_total"  # counter: result
RECONCILE_LAST = "kubeloop_operator_last_reconcile_timestamp_seconds"  # gauge
