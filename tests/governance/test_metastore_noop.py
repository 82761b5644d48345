"""A metastore request that changes nothing commits no version and leaves no audit record;
a real change is still audited once, a denied or refused no-op still audited (403, 400)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lakehouse_ml.governance import GROUP, Metastore, PermissionDenied
from lakehouse_ml.governance.principals import local_user
from tests.governance.audit_support import params, records
from tests.governance.test_policy import apply_churn

FUNCTION = {"parameters": [{"name": "e", "type": "STRING"}], "returns": "STRING",
            "body": "'***'"}
Request = Callable[[Metastore], object]


def _mask(m: Metastore) -> None:
    m.create("FUNCTION", "silver.mask", definition=FUNCTION, replace=True)
    m.set_column_mask("silver.customers", "email", "silver.mask")


# (request, how many records its first call leaves); each is then a no-op when repeated
REPEATED: dict[str, tuple[Request, int]] = {
    "create principal": (lambda m: m.add_principal("carl"), 1),
    "create group": (lambda m: m.add_principal("ml", GROUP), 1),
    "add member": (lambda m: m.add_member("readers", "bob"), 1),
    "remove a non-member": (lambda m: m.remove_member("readers", "bob"), 0),
    "create schema": (lambda m: m.create("SCHEMA", "gold", comment="aggregates"), 1),
    "create an existing table": (lambda m: m.create("TABLE", "silver.customers"), 0),
    "replace a function with itself": (lambda m: m.create(
        "FUNCTION", "silver.mask", definition=FUNCTION, replace=True), 1),
    "replace a table's comment with itself": (lambda m: m.create(
        "TABLE", "silver.events", comment="", replace=True), 0),
    "grant": (lambda m: m.grant(["SELECT", "MODIFY"], "TABLE", "silver.events", "bob"), 1),
    "revoke a grant not held": (lambda m: m.revoke(["MODIFY"], "TABLE", "silver.events",
                                                   "ann"), 0),
    "revoke ALL PRIVILEGES not held": (lambda m: m.revoke(["ALL PRIVILEGES"], "SCHEMA",
                                                          "silver", "bob"), 0),
    "owner from the registry document": (lambda m: m.set_owner(
        "TABLE", "silver.customers", "data-eng"), 0),
    "owner": (lambda m: m.set_owner("TABLE", "silver.events", "bob"), 1),
    "column tag from the registry document": (lambda m: m.set_tags(
        "TABLE", "silver.customers", {"pii": ""}, column="email"), 0),
    "column tag": (lambda m: m.set_tags("TABLE", "silver.customers", {"pii": "email"},
                                        column="email"), 1),
    "tag": (lambda m: m.set_tags("SCHEMA", "silver", {"layer": "silver"}), 1),
    "unset a tag not set": (lambda m: m.set_tags("TABLE", "silver.events", {"x": ""},
                                                 unset=True), 0),
    "drop a row filter never set": (lambda m: m.set_row_filter("silver.events", None), 0),
    "drop a mask never set": (lambda m: m.set_column_mask("silver.events", "email", None),
                              0),
    "mask": (_mask, 2),  # the function's creation, then the mask
}


@pytest.mark.parametrize("name", list(REPEATED))
def test_a_repeated_request_changes_and_records_nothing(metastore: Metastore, name: str
                                                        ) -> None:
    request, first = REPEATED[name]
    before = records(metastore).height
    request(metastore)
    after_first = records(metastore)
    assert after_first.height - before == first
    assert set(after_first.slice(before)["status"]) <= {200}
    state, version = metastore.store.read(), metastore.store.version()
    request(metastore)
    request(Metastore(metastore.root, "dev"))  # another process, same root
    assert records(metastore).height == after_first.height
    assert (metastore.store.read(), metastore.store.version()) == (state, version)


def test_reapplying_the_policy_records_nothing(root: str) -> None:
    apply_churn(Metastore(root, "dev"))
    first = records(Metastore(root, "dev"))
    assert {"createPrincipal", "createSchema", "updatePermissions", "updateGroupMembers",
            "createFunction", "updateTables"} <= set(first["action"])
    for _ in range(2):  # as each process that opens the lakehouse does
        apply_churn(Metastore(root, "dev"))
        assert records(Metastore(root, "dev")).height == first.height


def test_a_real_change_after_a_no_op_is_recorded_once(metastore: Metastore) -> None:
    metastore.grant(["SELECT"], "TABLE", "silver.events", "bob")
    metastore.grant(["SELECT"], "TABLE", "silver.events", "bob")
    before = records(metastore).height
    version = metastore.store.version()
    metastore.grant(["SELECT", "MODIFY"], "TABLE", "silver.events", "bob")  # MODIFY is new
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["action"], r["status"]) for r in rows] == [
        (local_user(), "updatePermissions", 200)]
    assert params(rows[0])["add"] == "MODIFY,SELECT"
    assert metastore.store.version() == version + 1
    assert {r["action_type"] for r in metastore.show_grants(
        "TABLE", "silver.events", "bob")} == {"SELECT", "MODIFY"}


def test_a_denied_or_refused_no_op_is_still_recorded(metastore: Metastore) -> None:
    metastore.grant(["SELECT"], "TABLE", "silver.events", "bob")
    before = records(metastore).height
    version = metastore.store.version()
    with pytest.raises(PermissionDenied, match="'ann' does not have MANAGE"):
        metastore.grant(["SELECT"], "TABLE", "silver.events", "bob", as_principal="ann")
    with pytest.raises(PermissionDenied, match="'ann' does not have metastore admin"):
        metastore.add_principal("bob", as_principal="ann")
    with pytest.raises(ValueError, match="'bob' is already a user, not a group"):
        metastore.add_principal("bob", GROUP)
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["action"], r["status"]) for r in rows] == [
        ("ann", "updatePermissions", 403), ("ann", "createPrincipal", 403),
        (local_user(), "createPrincipal", 400)]
    assert metastore.store.version() == version
