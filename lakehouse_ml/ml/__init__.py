"""Model lifecycle on MLflow: train, evaluate, validate, register, deploy, score."""
