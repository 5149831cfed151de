"""The model registry (MLflow): versions, aliases, tags and verified artifact loading."""
