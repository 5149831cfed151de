"""Training: load, validate, train, evaluate, gate and register scikit-learn models in MLflow."""
