"""Monitoring benchmark: the engine's profile + drift against Evidently's DataDriftPreset
(`python -m bench.monitoring`; the runner is `bench/monitoring/run.py`)."""
