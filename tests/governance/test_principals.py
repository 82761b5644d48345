"""Principals: nested groups (cycles refused), the caller's identity, the durable state."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance import (
    GROUP,
    MembershipCycle,
    Metastore,
    PermissionDenied,
    UnknownPrincipal,
    current_principal,
)
from lakehouse_ml.governance.principals import groups_of, local_user
from lakehouse_ml.governance.store import Store


def test_membership_is_transitive(metastore: Metastore) -> None:
    metastore.add_principal("everyone", GROUP)
    metastore.add_member("everyone", "readers")
    state = metastore.store.read()
    assert groups_of(state, "ann") == {"analysts", "readers", "everyone"}
    assert groups_of(state, "bob") == set()


@pytest.mark.parametrize(("group", "member"), [
    ("analysts", "analysts"), ("analysts", "readers"), ("ann", "bob")])
def test_cycles_and_non_groups_are_refused(metastore: Metastore, group: str, member: str
                                           ) -> None:
    before = metastore.store.version()
    with pytest.raises(ValueError, match=f"'{group}'"):
        metastore.add_member(group, member)
    assert metastore.store.version() == before


def test_a_cycle_through_three_groups_is_refused(metastore: Metastore) -> None:
    metastore.add_principal("c", GROUP)
    metastore.add_member("c", "readers")  # analysts ⊂ readers ⊂ c
    with pytest.raises(MembershipCycle, match="'c' to group 'analysts'"):
        metastore.add_member("analysts", "c")


def test_only_metastore_admins_manage_principals(metastore: Metastore) -> None:
    with pytest.raises(PermissionError, match="'ann' does not have metastore admin"):
        metastore.add_principal("eve", as_principal="ann")
    with pytest.raises(PermissionError):
        metastore.add_member("analysts", "bob", as_principal="ann")


def test_a_principal_cannot_change_type(metastore: Metastore) -> None:
    with pytest.raises(ValueError, match="'ann' is already a user, not a group"):
        metastore.add_principal("ann", GROUP)


def test_caller_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_PRINCIPAL", raising=False)
    assert current_principal() == local_user()
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", "etl")
    assert current_principal() == "etl"
    assert current_principal("ann") == "ann"
    with pytest.raises(ValueError, match="invalid principal name"):
        current_principal("a`b")


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_identity_set_blank_is_refused_not_taken_for_the_os_user(
        blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`LAKEHOUSE_PRINCIPAL=""` used to act as the OS user, the metastore admin by default."""
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", blank)
    with pytest.raises(ValueError, match="invalid principal name"):
        current_principal()


def test_acting_as_from_the_environment(metastore: Metastore, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", "bob")
    with pytest.raises(PermissionError, match="'bob'"):
        metastore.grant(["SELECT"], "TABLE", "silver.customers", "ann")


def test_concurrent_writers_lose_no_update(tmp_path) -> None:
    store = Store(str(tmp_path), "admin")
    writers = 8

    def add(i: int) -> None:
        for j in range(5):
            store.update(lambda state, n=f"u{i}-{j}": state["principals"].update(
                {n: {"type": "user"}}))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.read()["principals"]) == writers * 5
    assert store.version() == writers * 5


def test_the_latest_version_is_probed_forward_not_listed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store lists its folder once; then it finds later versions (another process's
    commits) one `stat` each, so a read costs the same however long the history. A removed
    history (a wiped lakehouse) is listed again, and its old state never served."""
    writer, reader = Store(str(tmp_path), "admin"), Store(str(tmp_path), "admin")

    def add(store: Store, name: str) -> None:
        store.update(lambda state: state["principals"].update({name: {"type": "user"}}))

    add(writer, "a")
    assert reader.version() == 1
    listed: list[Path] = []
    glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: listed.append(self) or glob(
        self, pattern))
    for name in ("b", "c", "d"):
        add(writer, name)
    assert reader.version() == 4 and set(reader.read()["principals"]) == set("abcd")
    assert listed == []
    shutil.rmtree(tmp_path / "_metastore")
    add(Store(str(tmp_path), "admin"), "e")
    assert reader.version() == 1 and set(reader.read()["principals"]) == {"e"}
    assert listed == [tmp_path / "_metastore"]  # by the reader: its last version is gone


def test_a_group_does_not_act(metastore: Metastore, root: str) -> None:
    """`--as data-eng` (a group, owner of the tables) read and granted with the group's
    privileges; a member acting as itself still gets them (a stranger's finding)."""
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "readers")
    metastore.grant(["USE SCHEMA", "SELECT"], "SCHEMA", "silver", "readers")
    catalog = Catalog(root, "dev", principal="readers")
    with pytest.raises(PermissionDenied, match="'readers' is a group: a group does not act"):
        catalog.check_read("silver.customers", "read")
    with pytest.raises(UnknownPrincipal, match="'data-eng' is a group"):
        metastore.grant(["SELECT"], "TABLE", "silver.customers", "bob",
                        as_principal="data-eng")
    assert not [g for g in metastore.store.read()["grants"] if g["principal"] == "bob"]
    Catalog(root, "dev", principal="ann").check_read("silver.customers", "read")  # a member

