"""Names that reach storage paths: every part, the environment included, is matched in full."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lakehouse_ml.catalog import Catalog, InvalidTableName, TableName
from lakehouse_ml.config import Settings
from lakehouse_ml.features import FeatureEngineeringClient

ESCAPES = ["dev/../../x", "../dev", "dev\n", "Dev", "", "dev.prod", "dev x", "1dev", "dév"]


@pytest.mark.parametrize("text", ["silver.orders\n", "dev.silver.orders\n", "silver.orders\r",
                                  "silver\n.orders", "silver.orders/..", "silver. orders"])
def test_a_name_part_with_a_trailing_newline_or_separator_is_refused(text: str) -> None:
    with pytest.raises(InvalidTableName, match="invalid"):
        TableName.parse(text, "dev")


@given(st.text(alphabet="abz_09.\n\r /-", max_size=24))
@example("silver.orders\n")
@example("dev.silver.orders\n")
def test_every_accepted_name_is_made_of_whole_identifiers(text: str) -> None:
    try:
        name = TableName.parse(text, "ab")
    except InvalidTableName:
        return
    assert str(name).endswith(text) and "\n" not in text and "/" not in text
    for part in (name.catalog, name.schema, name.name):
        assert part and part[0].isalpha() and set(part) <= set("abz_09")


@pytest.mark.parametrize("env", ESCAPES)
def test_lakehouse_env_must_be_one_name_part(
    env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("LAKEHOUSE_ENV", env)
    with pytest.raises(InvalidTableName, match="LAKEHOUSE_ENV"):
        Settings.from_env()
    with pytest.raises(InvalidTableName, match="environment"):
        Catalog(str(tmp_path / "root"), env)
    with pytest.raises(InvalidTableName):
        FeatureEngineeringClient()
    assert list(tmp_path.iterdir()) == []  # nothing created, inside the root or out of it


def test_a_valid_environment_keeps_the_online_store_under_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
    monkeypatch.setenv("LAKEHOUSE_ENV", "staging")
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = FeatureEngineeringClient()
    try:
        client.online_store.snapshot("staging.gold.anything")
        assert client.online_store.directory.resolve().is_relative_to(root.resolve())
    finally:
        client.close()
