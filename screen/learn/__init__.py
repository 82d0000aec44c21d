"""Learning: the target registry and targets, cross-validation, models, training, tuning,
tracking (MLflow) and prediction."""
