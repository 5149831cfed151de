"""Pipeline runners: submit kubeloop pipelines to kfp.local, a KFP API or Argo Workflows."""
