"""policy_scope's functions called directly on small policies (issue 13's surviving mutants of
the `policy` mutation group): what `declares` and `scope` collect, the exact messages `check`
gives, the helpers' own refusals of malformed entries, and what `overstepping` makes of an
unreadable policy, a schema the project policy or two domains declare.

The domain is `hok` in catalog `dev`; its own schema `hok_lab` (declared by its policy).

Equivalent mutants (no test can kill them; the run at 53a20d2 lists them as its 2 survivors):
- x_check__mutmut_11 (`declares(None, ...)` for the domain's own policy): `check` reads only
  the `.functions` of that result, never its `.file`.
- x_check__mutmut_56 (`_target(..., None)` for a declared schema's name): `check_entries`, run
  first, has already called `_target` on the same text and raised for a malformed one.
"""

from __future__ import annotations

import dataclasses as dc
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_ml.domains import Declared, discover
from lakehouse_ml.governance.policy import PolicyError, Target
from lakehouse_ml.governance.policy_scope import (
    SHARED_SCHEMAS,
    Declares,
    _called,
    _securables,
    check,
    declares,
    overstepping,
    scope,
)

OWN = scope("hok", "dev", {}, frozenset())
BASE = {"service_principals": ["hok-pipeline"], "schemas": [{"name": "hok_lab"}]}
FUNCTION = {"name": "hok_lab.f", "parameters": "t STRING", "returns": "BOOLEAN",
            "body": "TRUE"}


def refused(doc: dict[str, Any], project: Declares | None = None,
            domains: tuple[Declares, ...] = (), own: Any = OWN) -> str:
    """check's message for `doc` (BASE's sections where it names none)."""
    with pytest.raises(PolicyError) as error:
        check("p.yaml", {**BASE, **doc}, own, project, domains)
    return str(error.value)


def accepted(doc: dict[str, Any], project: Declares | None = None) -> None:
    check("p.yaml", {**BASE, **doc}, OWN, project, ())


# declares: what one policy file holds; malformed entries skipped


def test_declares_skips_malformed_entries_and_keeps_the_ones_after_them() -> None:
    doc = {"schemas": ["bare", {"name": 5}, {"name": "Bad.Name.X"}, {"name": "lab"},
                       {"name": "dev.lab2", "owner": "o"}],
           "functions": ["bare", {"name": "not a name"}, {"name": "lab.f"}],
           "groups": ["a-list", "of-members"]}
    found = declares("x.yaml", doc, "dev")
    assert found == Declares("x.yaml", {"dev.lab": "", "dev.lab2": "o"}, {"dev.lab.f"}, set())
    assert declares("y.yaml", {"groups": {"g": []}}, "dev").groups == {"g"}


# scope: a domain's tables, models and model schemas from every domain's claims


def test_scope_leaves_a_shared_layer_to_the_project_and_reads_the_claims_after_it() -> None:
    owners = {"schema silver": "hok", "schema hok_m": "hok", "schema other_m": "other",
              "silver.t": "hok", "hok_m.m": "hok", "gold.x": "other"}
    got = scope("hok", "dev", owners, frozenset({"hok_m.m"}))
    assert got == scope("hok", "dev", owners, frozenset({"hok_m.m"}))
    assert (got.tables, got.model_schemas, dict(got.foreign_schemas)) == (
        {("TABLE", "dev.silver.t"), ("MODEL", "dev.hok_m.m")}, {"dev.hok_m"},
        {"dev.other_m": "other"})


# check: exact messages


def test_a_shared_layer_s_schema_is_refused_with_nothing_after_the_reason() -> None:
    assert refused({"schemas": [{"name": "gold"}]}) == (
        f"p.yaml: schemas[0]: schema dev.gold is a layer every domain shares "
        f"({', '.join(SHARED_SCHEMAS)}): the project policy declares it")


@pytest.mark.parametrize(("here", "there", "said"), [
    ("", "", "owner unset here, unset there"),
    ("hok-pipeline", "q-pipeline", "owner hok-pipeline here, q-pipeline there")])
def test_a_schema_declared_elsewhere_names_both_owners_or_unset(
        here: str, there: str, said: str) -> None:
    other = Declares("q.yaml", {"dev.lab": there})
    schema = {"name": "lab", **({"owner": here} if here else {})}
    assert refused({"schemas": [schema]}, None, (other,)) == (
        f"p.yaml: schemas[0]: schema dev.lab is also declared by q.yaml ({said})")


def test_no_user_and_a_pipeline_principal_are_required() -> None:
    assert refused({"users": ["eve"]}) == ("p.yaml: users: a domain policy declares no user "
                                           "(people are the project policy's)")
    assert refused({"service_principals": ["hok-bot"]}) == (
        "p.yaml: service_principals: declares no hok-pipeline (the pipeline of domain 'hok' "
        "acts as it)")


def test_a_group_or_function_another_policy_declares_is_refused_naming_it() -> None:
    other = Declares("q.yaml", functions={"dev.hok_lab.f"}, groups={"hok-x"})
    assert refused({"groups": {"hok-x": []}}, None, (other,)) == (
        "p.yaml: groups.hok-x: a domain policy declares only its own groups, named 'hok-...', "
        "and adds members to them only (hok-x is declared by q.yaml)")
    assert refused({"functions": [FUNCTION]}, None, (other,)) == (
        "p.yaml: functions[0]: function dev.hok_lab.f is also declared by q.yaml")


def test_its_table_in_a_shared_layer_is_its_own_as_a_table_only() -> None:
    """silver.t is its table: a grant on it passes, on a model of that name it is refused."""
    own = scope("hok", "dev", {"silver.t": "hok"}, frozenset())
    grant = {"securable": "TABLE silver.t", "to": "hok-pipeline", "privileges": ["SELECT"]}
    check("p.yaml", {**BASE, "grants": [grant]}, own, None)
    model = {**grant, "securable": "MODEL silver.t", "privileges": ["EXECUTE"]}
    assert refused({"grants": [model]}, own=own).startswith(
        "p.yaml: grants[0]: MODEL dev.silver.t is not domain 'hok''s")


def test_a_securable_not_its_own_is_refused_with_the_whole_reason() -> None:
    doc = {"grants": [{"securable": "TABLE silver.t", "to": "hok-pipeline",
                       "privileges": ["SELECT"]}]}
    assert refused(doc) == (
        "p.yaml: grants[0]: TABLE dev.silver.t is not domain 'hok''s: a domain policy "
        "declares owners, grants, tags, row filters and column masks only on its own schemas, "
        "the tables and models its declarations produce, and the functions it declares")


def test_a_function_name_sql_reads_but_a_securable_name_is_not_is_refused_naming_the_entry(
        ) -> None:
    assert refused({"functions": [{**FUNCTION, "name": "hok_lab . f"}]}).startswith(
        "p.yaml: functions[0]: 'securable' must be 'TYPE [name]'")


def test_a_group_not_named_for_the_domain_is_refused_though_no_one_declares_it() -> None:
    assert refused({"groups": {"readers": []}}) == (
        "p.yaml: groups.readers: a domain policy declares only its own groups, named "
        "'hok-...', and adds members to them only")


def test_own_functions_grants_on_them_and_filters_calling_them_pass_without_project() -> None:
    """No project policy (None); the table is in its own schema (not one of its tables)."""
    accepted({"groups": {"hok-readers": ["hok-pipeline"]}, "functions": [FUNCTION],
              "grants": [{"securable": "FUNCTION hok_lab.f", "to": "hok-readers",
                          "privileges": ["EXECUTE"]},
                         {"securable": "TABLE hok_lab.t", "to": "hok-readers",
                          "privileges": ["SELECT"]}],
              "row_filters": [{"table": "hok_lab.t", "function": "hok_lab.f",
                               "columns": ["c"]}]})


def test_a_grant_on_a_function_it_does_not_declare_is_refused() -> None:
    project = Declares("project.yaml", functions={"dev.silver.mask"})
    doc = {"grants": [{"securable": "FUNCTION silver.mask", "to": "hok-pipeline",
                       "privileges": ["EXECUTE"]}]}
    assert refused(doc, project).startswith(
        "p.yaml: grants[0]: FUNCTION dev.silver.mask is not domain 'hok''s")


def test_a_row_filter_calling_an_undeclared_function_is_refused() -> None:
    doc = {"row_filters": [{"table": "hok_lab.t", "function": "hok_lab.nope",
                            "columns": ["c"]}]}
    assert refused(doc) == ("p.yaml: row_filters[0]: function dev.hok_lab.nope is declared by "
                            "neither this policy nor the project policy")


# the helpers name the file and entry of a malformed entry (check_entries refuses it first
# when `check` runs; called on their own they refuse it too)


@pytest.mark.parametrize(("doc", "message"), [
    ({"owners": "x"}, "p.yaml: 'owners' must be a list"),
    ({"row_filters": "x"}, "p.yaml: 'row_filters' must be a list"),
    ({"grants": [{"securable": "TABLE a.b"}]}, "p.yaml: grants[0]: missing to, privileges"),
    ({"owners": [{"securable": "TABLE a.b", "owner": "o", "column": "c"}]},
     "p.yaml: owners[0]: unknown field(s) column"),
    ({"owners": [{"securable": "TABLE A.B", "owner": "o"}]},
     "p.yaml: owners[0]: invalid table name 'A.B'"),
    ({"row_filters": [{"function": "a.f"}]},
     "p.yaml: row_filters[0]: expected a mapping with a table"),
    ({"column_masks": [{"table": "A.B"}]}, "p.yaml: column_masks[0]: invalid table name"),
])
def test_securables_refuses_a_malformed_entry_naming_file_and_entry(
        doc: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as error:
        list(_securables(doc, "p.yaml", "dev"))
    assert str(error.value).startswith(message), error.value


def test_securables_yields_each_entry_with_its_target_and_privileges() -> None:
    doc = {"tags": [{"securable": "TABLE a.b", "column": "c", "tags": {}}],
           "grants": [{"securable": "CATALOG", "to": "x", "privileges": ["use  catalog"]}],
           "column_masks": [{"table": "a.b"}]}
    assert list(_securables(doc, "p.yaml", "dev")) == [
        ("p.yaml: grants[0]", Target("CATALOG", "dev"), ["USE CATALOG"]),
        ("p.yaml: tags[0]", Target("TABLE", "dev.a.b"), None),
        ("p.yaml: column_masks[0]", Target("TABLE", "dev.a.b"), None)]


def test_called_skips_an_entry_without_a_function_and_names_a_malformed_one() -> None:
    doc = {"row_filters": [{"table": "a.b"}, {"function": "a.f"}],
           "column_masks": [{"function": "a.g"}]}
    assert list(_called(doc, "p.yaml", "dev")) == [("p.yaml: row_filters[1]", "dev.a.f"),
                                                  ("p.yaml: column_masks[0]", "dev.a.g")]
    for doc, message in (({"row_filters": "x"}, "p.yaml: 'row_filters' must be a list"),
                         ({"row_filters": [{"function": "A.F"}]},
                          "p.yaml: row_filters[0]: invalid function name 'A.F'")):
        with pytest.raises(PolicyError) as error:
            list(_called(doc, "p.yaml", "dev"))
        assert str(error.value).startswith(message), error.value


# overstepping: several packages at once


@pytest.fixture(scope="module")
def churn() -> Declared:
    return discover().declared["churn"]


def packages(root: Path, churn: Declared, policies: dict[str, object]) -> list[Declared]:
    """A package per domain name in `policies` (churn's declarations, no model), with that
    policy.yaml (a string: the file's text; None: no file)."""
    found = []
    for name, policy in policies.items():
        (root / name).mkdir()
        if policy is not None:
            text = policy if isinstance(policy, str) else yaml.safe_dump(policy)
            (root / name / "policy.yaml").write_text(text)
        found.append(dc.replace(churn, where=str(root / name), models=(),
                                domain=dc.replace(churn.domain, name=name)))
    return found


def own(name: str, **doc: object) -> dict[str, object]:
    return {"service_principals": [f"{name}-pipeline"], **doc}


def test_an_unreadable_policy_is_why_its_package_is_broken(tmp_path: Path,
                                                           churn: Declared) -> None:
    loaded = packages(tmp_path, churn, {"hok": "[unclosed"})
    why = overstepping(loaded, {}, tmp_path / "none.yaml", "dev")
    assert list(why) == [str(tmp_path / "hok")]
    assert why[str(tmp_path / "hok")].startswith(
        f"{tmp_path / 'hok' / 'policy.yaml'}: cannot read the policy: ")


def test_without_a_readable_project_policy_own_schemas_and_groups_pass(
        tmp_path: Path, churn: Declared) -> None:
    (tmp_path / "project.yaml").write_text("[unclosed")
    loaded = packages(tmp_path, churn, {"hok": own("hok", schemas=[{"name": "hok_lab"}],
                                                   groups={"hok-readers": []})})
    for project in (tmp_path / "project.yaml", tmp_path / "none.yaml"):
        assert overstepping(loaded, {"hok_lab.t": "hok"}, project, "dev") == {}


def test_a_schema_the_project_or_two_domains_declare_is_no_domain_s(
        tmp_path: Path, churn: Declared) -> None:
    """`a` declares the project's schema `lab`, `b` and `c` both declare `twice`: each is
    refused, and `d`'s tables in them are not (neither schema is held by a domain)."""
    (tmp_path / "project.yaml").write_text("schemas: [{name: lab}]\n")
    loaded = packages(tmp_path, churn, {
        "a": own("a", schemas=[{"name": "lab"}]), "b": own("b", schemas=[{"name": "twice"}]),
        "c": own("c", schemas=[{"name": "twice"}]), "d": None})
    why = overstepping(loaded, {"lab.x": "d", "twice.y": "d"}, tmp_path / "project.yaml",
                       "dev")
    assert sorted(why) == [str(tmp_path / x) for x in "abc"]
    assert why[str(tmp_path / "a")].endswith(f"schema dev.lab is also declared by "
                                             f"{tmp_path / 'project.yaml'} (owner unset here, "
                                             "unset there)")


def test_a_table_or_model_in_a_schema_another_domain_s_policy_holds_is_refused(
        tmp_path: Path, churn: Declared) -> None:
    """The first in (type, name) order is named: `d`'s model before its table."""
    loaded = packages(tmp_path, churn, {"a": own("a", schemas=[{"name": "a_lab"}]),
                                        "d": None})
    owners = {"a_lab.x": "d", "a_lab.m": "d"}
    assert overstepping(loaded, owners, tmp_path / "none.yaml", "dev") == {
        str(tmp_path / "d"): "table dev.a_lab.m is in schema dev.a_lab, domain 'a''s: a "
                             "domain declares tables only in its own schemas and the shared "
                             "layers"}
    model = dc.replace(loaded[1], models=(dc.replace(churn.models[0], schema="a_lab",
                                                     name="m"),))
    assert overstepping([loaded[0], model], owners, tmp_path / "none.yaml", "dev") == {
        str(tmp_path / "d"): "model dev.a_lab.m is in schema dev.a_lab, domain 'a''s: a "
                             "domain declares tables only in its own schemas and the shared "
                             "layers"}
