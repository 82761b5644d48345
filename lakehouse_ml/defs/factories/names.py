"""Names of the jobs and schedules a domain or model produces (the CLI finds them here too).

Every name starts with its domain's or model's name, so any number of domains coexist in one
code location; runs carry the domain or model as a tag, so the UI's run list filters by it.
"""

DOMAIN_TAG = "lakehouse_ml/domain"
MODEL_TAG = "lakehouse_ml/model"
CATALOG_MAINTENANCE = "catalog_maintenance"
"""OPTIMIZE and VACUUM every table of the catalog, whoever owns it."""
FAILED_RUNS_SENSOR = "failed_runs_sensor"
"""Records every failed run of the code location in `monitoring.failed_runs`."""
TRIGGER_TAG = "lakehouse_ml/trigger"
"""On a run a sensor launched: the sensor's name."""
EPISODE_TAG = "lakehouse_ml/trigger_episode"
"""On a run a drift sensor launched: its drift episode (also the run key)."""
REASON_TAG = "lakehouse_ml/trigger_reason"
EVIDENCE_TAG = "lakehouse_ml/trigger_evidence"
"""JSON: the drift and quality metrics behind the launch."""


def daily_refresh(domain: str) -> str:
    return f"{domain}_daily_refresh"


def weekly_maintenance(domain: str) -> str:
    return f"{domain}_weekly_maintenance"


def train_validate_deploy(model: str) -> str:
    return f"{model}_train_validate_deploy"


def batch_score(model: str) -> str:
    return f"{model}_batch_score"


def monitoring_refresh(domain: str) -> str:
    return f"{domain}_monitoring_refresh"


def schedule(job: str) -> str:
    return f"{job}_schedule"


def drift_sensor(model: str) -> str:
    return f"{model}_drift_sensor"


def write_pool(table: str) -> str:
    """Dagster pool of the step that writes `table` (`schema.name`): the shipped `dagster.yaml`
    gives every pool one slot, so two runs (of different days, say) never write one Delta table
    at once, where the second commit would fail on the first's."""
    return f"write_{table}"
