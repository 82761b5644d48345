"""What batch scoring adds to each scored row: its columns and the decision threshold.

Its own module, importing nothing, so that a domain's monitors and the drift triggers can name
them without importing the model-loading code (MLflow, scikit-learn) when definitions load."""

THRESHOLD = 0.5
"""`prediction` is `probability >= THRESHOLD`."""
SCORE_COLUMNS = ("as_of", "probability", "prediction", "model_version", "scored_at")
"""The columns `ml.scoring.score_latest` writes beside the keys and the model's input features."""
