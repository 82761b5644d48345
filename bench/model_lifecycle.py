"""Training and scoring time at the `make run` data size, against plain scikit-learn.

Both sides start from the same materialized lakehouse (medallion, features, training set),
each phase in its own fresh process:

* ours, train — `train_candidate` + gates + deploy: the time split, fit, holdout metrics per
  slice, plots, model card, MLflow run, registration, registry reload check and alias move.
* peer, train — what a user writes by hand: the same time split and pipeline, `fit`, one ROC
  AUC on the holdout. No logging, no registry.
* ours, score — `score_batch` from keys alone: point-in-time feature lookups of every customer
  from the Delta feature tables, then the registered model.
* peer, score — `predict_proba` on the already-joined training-set rows of the same size.

    python -m bench.model_lifecycle [--quick] [--customers N] [--days D]
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    OUT,
    Measured,
    Size,
    Stopwatch,
    chosen_size,
    emit,
    fmt_bytes,
    run_phase,
    save,
    size_parser,
)

DEFAULT = Size(customers=2000, days=120)
"""`lakehouse-ml generate` defaults: what `make run` builds."""
QUICK = Size(customers=300, days=100)


def _env(work: Path) -> dict[str, str]:
    return {"LAKEHOUSE_ROOT": str(work / "lakehouse"), "LAKEHOUSE_LANDING": str(work / "landing"),
            "LAKEHOUSE_ENV": "dev", "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}


def _prepare(customers: int, days: int) -> None:
    """Child: generate and materialize everything up to the training set."""
    from datetime import UTC, datetime, timedelta

    from lakehouse_ml.cli.pipeline import materialize_range
    from lakehouse_ml.domains.churn.generator import generate

    watch = Stopwatch()
    start = datetime.now(UTC).date() - timedelta(days=days)
    generate(Path(os.environ["LAKEHOUSE_LANDING"]), customers, days, start, progress=False)
    with watch.lap("pipeline"):
        results = materialize_range(None, None)
    emit(watch.result(success=all(r.success for r in results)))


def _ours_train() -> None:
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.config import Settings
    from lakehouse_ml.domains.churn.model import MODEL
    from lakehouse_ml.ml.candidate import train_candidate
    from lakehouse_ml.ml.deploy import deploy, record_gates
    from lakehouse_ml.ml.gates import run_gates
    from lakehouse_ml.ml.registry import use_tracking

    settings = Settings.from_env()
    catalog, client = Catalog.from_settings(settings), use_tracking(settings.mlflow_tracking_uri)
    watch = Stopwatch()
    with watch.lap("train and log"):
        candidate = train_candidate(catalog, client, MODEL)
    with watch.lap("gates and deploy"):
        gates = run_gates(client, MODEL, candidate)
        passed = record_gates(catalog, client, MODEL.schema, candidate.model,
                              candidate.version, candidate.run_id, gates)
        deploy(catalog, client, MODEL.schema, candidate.model, candidate.version, passed, "bench")
    emit(watch.result(rows=candidate.trained.train.height + candidate.trained.holdout.height,
                      roc_auc=candidate.evaluation.metrics["roc_auc"]))


def _peer_train() -> None:
    from sklearn.metrics import roc_auc_score

    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.domains.churn.model import MODEL
    from lakehouse_ml.ml.train import inputs, train

    frame = Catalog.from_settings().read(MODEL.training_set.name)
    watch = Stopwatch()
    with watch.lap("fit and score"):
        trained = train(MODEL, frame)
        scores = trained.pipeline.predict_proba(inputs(trained.holdout, trained.features))[:, 1]
        auc = roc_auc_score(trained.holdout[MODEL.training_set.label], scores)
    emit(watch.result(rows=frame.height, roc_auc=auc))


def _customers_at_latest():
    import polars as pl

    from lakehouse_ml.catalog import Catalog

    catalog = Catalog.from_settings()
    as_of = catalog.scan("gold.customer_engagement").select(pl.col("feature_ts").max())
    keys = catalog.read("silver.customers", columns=["customer_id"]).unique()
    return keys.with_columns(label_timestamp=pl.lit(as_of.collect().item()))


def _ours_score() -> None:
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.domains.churn.model import MODEL
    from lakehouse_ml.features import FeatureEngineeringClient
    from lakehouse_ml.ml.registry import use_tracking
    from lakehouse_ml.ml.scoring import score_batch

    keys = _customers_at_latest()
    name = MODEL.registered_name("dev")
    use_tracking(os.environ["MLFLOW_TRACKING_URI"])
    watch = Stopwatch()
    with watch.lap("score_batch"):
        scored = score_batch(FeatureEngineeringClient(Catalog.from_settings()),
                             f"models:/{name}@champion", keys)
    emit(watch.result(rows=scored.height))


def _peer_score() -> None:
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.domains.churn.model import MODEL
    from lakehouse_ml.ml.train import inputs, train

    frame = Catalog.from_settings().read(MODEL.training_set.name)
    trained = train(MODEL, frame)
    rows = frame.sample(_customers_at_latest().height, with_replacement=True, seed=0)
    watch = Stopwatch()
    with watch.lap("predict_proba"):
        trained.pipeline.predict_proba(inputs(rows, trained.features))
    emit(watch.result(rows=rows.height))


PHASES = {"prepare": _prepare, "ours-train": _ours_train, "peer-train": _peer_train,
          "ours-score": _ours_score, "peer-score": _peer_score}


def run(size: Size) -> dict[str, Any]:
    customers, days = size.customers, size.days
    work = OUT / "model" / f"{customers}c-{days}d"
    shutil.rmtree(work, ignore_errors=True)
    env = _env(work)
    print(f"== model lifecycle: {customers:,} customers x {days} days", flush=True)
    run_phase("bench.model_lifecycle", ["phase", "prepare", str(customers), str(days)], env)
    measured: dict[str, Measured] = {
        name: run_phase("bench.model_lifecycle", ["phase", name], env)
        for name in ("peer-train", "ours-train", "peer-score", "ours-score")
    }
    result = {name: {"work_s": m.work_s, "peak_rss_bytes": m.peak_rss, **m.result}
              for name, m in measured.items()}
    result["train_ratio"] = measured["ours-train"].work_s / measured["peer-train"].work_s
    result["score_ratio"] = measured["ours-score"].work_s / measured["peer-score"].work_s
    save(f"model-{customers}c-{days}d", result)
    return result


def summary(result: dict[str, Any]) -> list[str]:
    lines = ["model lifecycle:"]
    for name in ("ours-train", "peer-train", "ours-score", "peer-score"):
        r = result[name]
        lines.append(f"  {name:<11} {r['work_s']:7.2f} s  rows {r['rows']:>7,}  "
                     f"peak {fmt_bytes(r['peak_rss_bytes'])}")
    lines.append(f"  train ours/peer x{result['train_ratio']:.1f} (logging, plots, card, "
                 f"registry, gates); score ours/peer x{result['score_ratio']:.1f} "
                 "(point-in-time lookups from keys)")
    return lines


def main(argv: list[str]) -> None:
    if argv and argv[0] == "phase":
        name, *rest = argv[1:]
        PHASES[name](*map(int, rest))
        return
    args = size_parser("python -m bench.model_lifecycle", __doc__).parse_args(argv)
    print("\n".join(summary(run(chosen_size(args, DEFAULT, QUICK)))))


if __name__ == "__main__":
    main(sys.argv[1:])
