"""The governance audit reads each check's latest *completed* evaluation: a run that planned a
check and never evaluated it (its asset failed, the run was interrupted) leaves a PLANNED
record, which has no result (it crashed the audit: 'AssetCheckEvaluationPlanned' object has no
attribute 'passed')."""

import dagster as dg

from lakehouse_ml.defs.governance_audit import _latest_checks


def _definitions(fail: bool) -> dg.Definitions:
    key = ["silver", "things"]

    @dg.asset(key=key, check_specs=[dg.AssetCheckSpec("rows", asset=key)])
    def things():
        if fail:
            raise RuntimeError("the asset fails before its check is evaluated")
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="rows", passed=False,
                                  severity=dg.AssetCheckSeverity.WARN, description="no rows")

    return dg.Definitions(assets=[things])


def test_a_check_planned_and_never_evaluated_keeps_its_previous_result():
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(_definitions(fail=False).assets, instance=instance).success
    failed = dg.materialize(_definitions(fail=True).assets, instance=instance,
                            raise_on_error=False)
    assert not failed.success
    key = dg.AssetCheckKey(dg.AssetKey(["silver", "things"]), "rows")
    latest = instance.get_latest_asset_check_evaluation_record(key)
    assert latest is not None and latest.status.value == "PLANNED"  # what the audit must skip

    graph = _definitions(fail=False).resolve_asset_graph()
    checks, stale = _latest_checks(dg.build_asset_context(instance=instance), graph, "dev")

    [status] = checks["dev.silver.things"]
    assert (status.check, status.passed, status.severity) == ("rows", False, "WARN")
    assert "no rows" in status.description
    assert stale == []


def test_a_check_only_ever_planned_gives_no_result():
    instance = dg.DagsterInstance.ephemeral()
    dg.materialize(_definitions(fail=True).assets, instance=instance, raise_on_error=False)
    graph = _definitions(fail=True).resolve_asset_graph()
    checks, _ = _latest_checks(dg.build_asset_context(instance=instance), graph, "dev")
    assert checks == {}
