"""What an erasure recognises as the subject's, called directly (issue 14 item 5, `make
mutation`'s `erasure` group): key columns and their derivations, a key typed per column, the
key named inside a text, and the subject's keys found in and deleted from an online store
(real Delta tables, a real SQLite store). Each test kills survivors of that group's run
(bench/MUTATION.md, "governance erasure")."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.online import RedisStore
from lakehouse_ml.features.online.codec import encode
from lakehouse_ml.features.online.publish import publish
from lakehouse_ml.features.online.sqlite_store import SQLiteStore
from lakehouse_ml.features.timestamps import STORED
from lakehouse_ml.governance import erasure_files_lines as fl
from lakehouse_ml.governance import erasure_match as m
from lakehouse_ml.governance import erasure_online
from lakehouse_ml.governance import erasure_tables as et
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.ingest.landing import parse

SUBJECT = Subject("customer_id", "42")
NEEDLES = m.Needles(SUBJECT, {"email": frozenset({"user42@example.com", "x@y"})})


def test_key_columns_follow_declared_derivations_transitively() -> None:
    schemas = {"silver.people": pl.Schema({"customer_id": pl.Int64, "email": pl.String}),
               "gold.scores": pl.Schema({"cid": pl.Int32, "score": pl.Float64}),
               "gold.ranks": pl.Schema({"ranked": pl.String}),
               "gold.other": pl.Schema({"x": pl.Int64})}
    derived = {"gold.scores": {"cid": [("silver.people", "customer_id")]},
               "gold.ranks": {"ranked": [("gold.scores", "cid")],
                              "absent": [("silver.people", "customer_id")]},
               "gold.other": {"x": [("silver.people", "email")]},
               "gold.undeclared": {"y": [("silver.people", "customer_id")]}}
    assert m.key_columns(SUBJECT, schemas, derived) == {
        "gold.ranks": {"ranked": pl.String}, "gold.scores": {"cid": pl.Int32},
        "silver.people": {"customer_id": pl.Int64}}
    assert m.key_columns(Subject("email", "a"), schemas, {}) == {
        "silver.people": {"email": pl.String}}


def test_the_value_is_typed_per_column_or_refused_naming_it() -> None:
    assert m.typed(Subject("c", " 42 "), pl.String, "t.c") == " 42 "
    assert m.typed(SUBJECT, pl.Int16, "t.c") == 42
    assert m.typed(Subject("c", "1.5"), pl.Float64, "t.c") == 1.5
    with pytest.raises(ValueError, match=r"^--key customer_id='x': dev.t.c is Int64, and 'x' "
                       r"is not one$"):
        m.typed(Subject("customer_id", "x"), pl.Int64, "dev.t.c")


def test_only_long_enough_pii_values_are_searched_inside_texts() -> None:
    needles = m.Needles(SUBJECT, {"email": frozenset({"b@cd", "abc", "a@b.io"}),
                                  "phone": frozenset({"a@b.io", "12345"})})
    assert needles.in_text() == ["12345", "a@b.io", "b@cd"]
    assert m.Needles(SUBJECT).in_text() == []


@pytest.mark.parametrize(("text", "named"), [
    ('{"customer_id": 42}', True), ('{"customer_id":"42",', True), ('"customer_id" : 42]', True),
    ('{"customer_id": " 42 "}', True), ('{"customer_id": 420}', False),
    ('{"customer_id": 4}', False), ('{"customer": 42}', False), ('"customer_id": 42', False)])
def test_the_key_as_a_json_field_is_told_from_a_longer_number(text: str, named: bool) -> None:
    assert bool(NEEDLES.json_field().search(text)) is named


def test_key_and_pii_matches_compare_whole_values() -> None:
    frame = pl.DataFrame({"k": [" 42 ", "420", None], "n": [42, 420, None],
                          "email": ["user42@example.com", "x", None], "score": [1, 2, 3]})
    assert frame.filter(m.key_match("k", pl.String, 42))["n"].to_list() == [42]
    assert frame.filter(m.key_match("n", pl.Int64, 42))["k"].to_list() == [" 42 "]
    pii = m.pii_match(frame.schema, NEEDLES)
    assert len(pii) == 1 and frame.filter(pii[0])["n"].to_list() == [42]
    assert m.pii_match(pl.Schema({"email": pl.Int64}), NEEDLES) == []
    assert m.pii_match(frame.schema, m.Needles(SUBJECT, {"email": frozenset()})) == []


def test_text_columns_leave_out_keys_pii_and_other_types() -> None:
    schema = pl.Schema({"k": pl.String, "email": pl.String, "raw": pl.String, "n": pl.Int64,
                        "body": pl.String})
    assert m.text_columns(schema, ["k"], NEEDLES) == ["raw", "body"]


def test_the_prefilter_keeps_rows_naming_the_key_or_a_pii_value() -> None:
    frame = pl.DataFrame({"a": ['{"customer_id": 42}', '{"customer_id": 7}', "42", None,
                                "mail user42@example.com", "x@y"],
                          "b": [None, None, None, '{"customer_id": 42}', None, None]})
    assert m.text_prefilter([], NEEDLES) is None
    keep = m.text_prefilter(["a", "b"], NEEDLES)
    assert frame.with_row_index().filter(keep)["index"].to_list() == [0, 3, 4]
    only_a = m.text_prefilter(["a"], NEEDLES)
    assert frame.with_row_index().filter(only_a)["index"].to_list() == [0, 4]


@pytest.mark.parametrize(("text", "said"), [
    (None, False), ("", False),
    ("logged user42@example.com", True), ("x@y", False),
    ('{"customer_id": 42}', True), ('{"customer_id": "42 "}', True),
    ('{"customer_id": 420}', False),
    ('{"customer_id": null}', False), ('{"customer_id": [42]}', False),
    ('{"customer_id": {"v": 42}}', False),
    ('{"dataframe_records": [{"customer_id": 42}]}', True),
    ('{"columns": ["x", "customer_id"], "data": [[1, 7], [2, 42]]}', True),
    ('{"columns": ["x", "customer_id"], "data": [[1, 7], [42]]}', False),
    ('{"columns": ["customer_id"], "data": [42]}', False),
    ('{"columns": "customer_id", "data": [[42]]}', False),
    ('{"columns": ["x"], "data": [[42]]}', False),
    ('{"body": "{\\"customer_id\\": 42}"}', True),
    ('{"body": "customer_id 42"}', False),
    ('{"body": "[{\\"customer_id\\": 42}"}', False),
    ('{"customer_id": 42, "email": "broken', True),
    ('{"customer_id": 420, "email": "broken', False),
    ("[1, 2]", False),
])
def test_a_text_mentions_the_subject_as_a_field_or_a_pii_value(text: str | None,
                                                               said: bool) -> None:
    assert m.mentions(text, NEEDLES) is said


def test_a_key_nested_deeper_than_64_levels_is_not_searched() -> None:
    def nested(depth: int) -> str:
        return "[" * depth + '{"customer_id": 42}' + "]" * depth

    assert m.mentions(nested(64), NEEDLES) is True
    assert m.mentions(nested(65), NEEDLES) is False


PEOPLE = pl.DataFrame({"customer_id": [7, 42, 420], "email": ["a@x", "b@x", "c@x"]})
VISITS = pl.DataFrame({"customer_id": [42, 42, 7], "day": ["d1", "d2", "d1"], "n": [1, 2, 3]})


@pytest.fixture
def published(tmp_path: Path) -> tuple[Catalog, SQLiteStore]:
    """silver.people (one key) and gold.visits (two keys) published to a SQLite store; gold.idle
    holds the subject but was never published."""
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    store = SQLiteStore(tmp_path / "online")
    for name, frame, keys in (("silver.people", PEOPLE, ["customer_id"]),
                              ("gold.visits", VISITS, ["customer_id", "day"]),
                              ("gold.idle", PEOPLE, ["customer_id"])):
        catalog.create_table(name, frame.schema, TableInfo(owner="team:data"))
        catalog.overwrite(name, frame)
        if name != "gold.idle":
            publish(store, f"dev.{name}", keys, None, catalog.version(name),
                    lambda v, t, f=frame: f)
    return catalog, store


KEYS = {"silver.people": {"customer_id": (pl.Int64, 42)},
        "gold.visits": {"customer_id": (pl.Int64, 42)},
        "gold.idle": {"customer_id": (pl.Int64, 42)}}


def _key(**values: object) -> str:
    return json.dumps(values, separators=(",", ":"))


def test_the_plan_names_every_published_key_of_the_subject_and_creates_no_store(
        published: tuple[Catalog, SQLiteStore]) -> None:
    catalog, store = published
    found = {o.table: sorted(o.keys) for o in erasure_online.plan(catalog, store, KEYS)}
    people = encode(PEOPLE.filter(pl.col("customer_id") == 42), ["customer_id"]).to_list()
    visits = encode(VISITS.filter(pl.col("customer_id") == 42), ["customer_id", "day"]).to_list()
    assert found == {"dev.silver.people": people, "dev.gold.visits": sorted(visits)}
    assert not store.path("dev.gold.idle").exists()
    assert erasure_online.plan(catalog, store, {"silver.people": {"email": (pl.String, "b@x")}}
                               ) == []


def test_a_key_deleted_offline_but_still_published_is_found_online(
        published: tuple[Catalog, SQLiteStore]) -> None:
    catalog, store = published
    catalog.delete("silver.people", '"customer_id" = 42')
    found = erasure_online.plan(catalog, store, {"silver.people": KEYS["silver.people"]})
    assert [(o.table, o.keys) for o in found] == [
        ("dev.silver.people", encode(PEOPLE.filter(pl.col("customer_id") == 42),
                                     ["customer_id"]).to_list())]


def test_erase_deletes_the_keys_keeps_the_version_and_vacuums_the_file(
        published: tuple[Catalog, SQLiteStore]) -> None:
    catalog, store = published
    (found,) = erasure_online.plan(catalog, store, {"silver.people": KEYS["silver.people"]})
    before = store.snapshot(found.table)
    place = erasure_online.erase(store, found)
    path = store.path(found.table)
    assert place == ErasedPlace("online_store", "sqlite:dev.silver.people", 1,
                                path.stat().st_size)
    after = store.snapshot(found.table)
    assert (after.version, after.keys, after.published_at) == (before.version, before.keys, None)
    assert (after.schema, after.timeseries) == (before.schema, before.timeseries)
    assert before.published_at is not None
    others = encode(PEOPLE.filter(pl.col("customer_id") != 42), ["customer_id"]).to_list()
    assert store.read(found.table, found.keys)[1] == [None]
    assert None not in store.read(found.table, others)[1]
    assert b"b@x" not in path.read_bytes() and b"a@x" in path.read_bytes()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_erase_of_a_table_unpublished_meanwhile_touches_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "online")
    gone = erasure_online.OnlineKeys("dev.silver.people", [_key(customer_id=42)])
    assert store.snapshot(gone.table) is None
    assert erasure_online.erase(store, gone) == ErasedPlace(
        "online_store", "sqlite:dev.silver.people", 0)


def _people(root: Path) -> Catalog:
    """silver.people: customers 7, 42, 420 (email pii) written, then 42 overwritten away (its
    rows only in an older data file and in the log's statistics); ops.requests: a logged body
    naming 42 and one naming 7, rows named by request_id; ops.notes: a text naming 42 and no
    row id."""
    catalog = Catalog(str(root), "dev")
    tables = {"silver.people": PEOPLE,
              "ops.requests": pl.DataFrame({"request_id": ["r1", "r2"], "body": [
                  '{"dataframe_records": [{"customer_id": 42}]}', '{"customer_id": 7}']}),
              "ops.notes": pl.DataFrame({"note": ['{"customer_id": 42}', "nothing"]})}
    for name, frame in tables.items():
        pii = {"email": ["pii"]} if "email" in frame.columns else {}
        catalog.create_table(name, frame.schema, TableInfo(owner="team:data", column_tags=pii))
        catalog.overwrite(name, frame)
    return catalog


def _holders(catalog: Catalog, subject: Subject = SUBJECT) -> dict[str, et.Holder]:
    keys = et.keys_of(catalog, subject, {})
    return {h.name: h for h in et.find(catalog, et.needles(catalog, subject, keys), keys)}


def test_each_holder_is_found_with_its_rows_and_the_predicate_that_deletes_them(
        tmp_path: Path) -> None:
    catalog = _people(tmp_path / "lake")
    found = _holders(catalog)
    assert sorted(found) == ["dev.ops.notes", "dev.ops.requests", "dev.silver.people"]
    people, requests, notes = (found[f"dev.{t}"] for t in
                               ("silver.people", "ops.requests", "ops.notes"))
    assert (people.rows, people.predicate, people.problem) == (
        1, "(\"customer_id\" = 42) OR (\"email\" IN ('b@x'))", None)
    assert (requests.rows, requests.predicate, requests.problem) == (
        1, "(\"request_id\" IN ('r1'))", None)
    assert (notes.rows, notes.predicate) == (0, None)  # nothing it can delete by: said
    assert notes.problem == ("1 row(s) name the subject inside a text, and the table has no "
                             "row id column (_record_id, request_id) to delete them by")


def test_a_text_key_is_deleted_by_the_texts_found_and_a_string_value_quoted(
        tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    raw = pl.DataFrame({"customer_id": [" 42 ", "42", "420", None], "_record_id": list("abcd")})
    catalog.create_table("bronze.people", raw.schema, TableInfo(owner="team:data"))
    catalog.overwrite("bronze.people", raw)
    (holder,) = _holders(catalog).values()
    assert (holder.rows, holder.predicate) == (2, "(\"customer_id\" IN (' 42 ', '42'))")
    catalog.delete("bronze.people", holder.predicate)
    assert catalog.read("bronze.people")["_record_id"].to_list() == ["c", "d"]


def test_a_table_holding_the_subject_only_in_older_files_is_vacuumed_and_purged(
        tmp_path: Path) -> None:
    catalog = _people(tmp_path / "lake")
    catalog.overwrite("silver.people", PEOPLE.filter(pl.col("customer_id") != 42))
    catalog.delete("ops.notes", "TRUE")
    catalog.delete("ops.requests", "request_id = 'r1'")
    found = _holders(catalog)
    assert {n: (h.rows, h.predicate) for n, h in found.items()} == {
        "dev.silver.people": (0, None), "dev.ops.requests": (0, None),
        "dev.ops.notes": (0, None)}
    folder = Path(catalog.location("silver.people"))
    place = et.erase(catalog, found["dev.silver.people"])
    assert place == ErasedPlace("table", "dev.silver.people", 0, 0)
    data = [pl.read_parquet(p) for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts]
    assert data and all(42 not in f["customer_id"].to_list() for f in data)
    assert all(b"b@x" not in p.read_bytes() for p in (folder / "_delta_log").iterdir())
    assert "dev.silver.people" not in _holders(catalog)
    assert catalog.read("silver.people")["customer_id"].to_list() == [7, 420]


@pytest.mark.parametrize(("stats", "held"), [
    ('{"minValues": {"customer_id": 42}}', True), ('{"maxValues": {"customer_id": " 42"}}', True),
    ('{"minValues": {"customer_id": 7}, "maxValues": {"customer_id": 420}}', False),
    ('{"maxValues": {"email": "b@x"}}', True), ('{"minValues": {"email": "a@x"}}', False),
    ('{"minValues": {"other": 42}}', False), ('{"minValues": null}', False), ("{broken", False)])
def test_the_log_statistics_hold_the_subject_when_a_bound_is_its_key_or_pii(
        stats: str, held: bool) -> None:
    needles = m.Needles(SUBJECT, {"email": frozenset({"b@x"})})
    assert et._stats_hold(stats, {"customer_id": (pl.Int64, 42)}, needles) is held


def test_an_older_file_that_cannot_be_read_counts_as_holding_the_subject(tmp_path: Path) -> None:
    broken, other = tmp_path / "broken.parquet", tmp_path / "other.parquet"
    broken.write_bytes(b"not parquet")
    pl.DataFrame({"x": [42]}).write_parquet(other)
    keys = {"customer_id": (pl.Int64, 42)}
    assert et._files_hold([str(other)], keys, NEEDLES) is False
    assert et._files_hold([str(other), str(broken)], keys, NEEDLES) is True
    for held in ({"customer_id": [7, 42]}, {"email": ["user42@example.com"]},
                 {"body": ['{"customer_id": 42}']}):
        pl.DataFrame(held).write_parquet(other)
        assert et._files_hold([str(other)], keys, NEEDLES) is True
        assert et._files_hold([str(other)], {}, NEEDLES) is ("customer_id" not in held)
    pl.DataFrame({"customer_id": [7], "body": ['{"customer_id": 420}']}).write_parquet(other)
    assert et._files_hold([str(other)], keys, NEEDLES) is False


@pytest.mark.parametrize(("name", "malformed"), [
    ("dev.bronze.people_rejects", 3), ("dev.silver.people_quarantine", 3),
    ("dev.silver.people", 0)])
def test_rows_of_rejects_and_quarantine_are_counted_malformed(name: str, malformed: int) -> None:
    holder = et.Holder(name, "/nowhere", 3, "TRUE", "why")
    assert et.place(holder, 10) == ErasedPlace("table", name, 3, 10, malformed, "why")


def test_an_older_file_with_null_keys_and_no_subject_does_not_hold_it(tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    pl.DataFrame({"customer_id": [None, 7], "email": [None, "a@x"]}).write_parquet(other)
    assert et._files_hold([str(other)], {"customer_id": (pl.Int64, 42)}, NEEDLES) is False


LINE_SUBJECT = fl.SourceSubject("customer_id", pl.Int64, "42", pii=("email",))


def test_a_broken_json_line_whose_key_has_bad_bytes_is_still_decided() -> None:
    """The key's raw bytes are read with backslash escapes: `x\\xff42` holds 42 (malformed)."""
    for line in (b'{"customer_id": "x\xff42"}', b'{"customer_id": "x\xff42'):
        assert fl.holds(LINE_SUBJECT, "jsonl", None, line) is fl.Holds.MALFORMED
    assert fl.holds(LINE_SUBJECT, "jsonl", None, b'{"customer_id": "x\xff43"}') is \
        fl.Holds.NOTHING


def test_a_non_text_pii_value_identifies_the_subject_as_written() -> None:
    """An identifier taken from a record's non-text pii value (a list holding `é`) is found in
    a broken line as the file spells it (UTF-8, not `\\u00e9`)."""
    record = '{"customer_id": 42, "email": ["é@x.io"]}'.encode()
    ids = fl.pii_values(LINE_SUBJECT, "jsonl", None, record)
    assert ids == ['["é@x.io"]']
    subject = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset(ids), ("email",))
    broken = '{"customer_id": null, "email": ["é@x.io"]'.encode()
    assert fl.holds(subject, "jsonl", None, broken) is fl.Holds.MALFORMED


def test_a_broken_json_line_without_a_key_is_the_subject_s_by_an_identifier() -> None:
    subject = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset({"u42@x.io"}),
                               ("email",))
    assert fl.holds(subject, "jsonl", None, b'{"email": "u42@x.io"') is fl.Holds.MALFORMED
    assert fl.holds(subject, "jsonl", None, b'{"email": "u42@x.iox"') is fl.Holds.NOTHING


def test_a_key_nested_too_deep_for_json_is_decided_at_every_depth() -> None:
    """Python's json refuses (RecursionError) a nesting as deep as the stack allows; near that
    depth `loads` may succeed and `dumps` of the value fail: either way the line's raw key
    (`[[[…42`) decides it, malformed, never an exception."""
    identified = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset({"u42@x.io"}),
                                  ("email",))
    for depth in range(1, sys.getrecursionlimit() + 20):
        line = b'{"customer_id": ' + b"[" * depth + b"42" + b"]" * depth + b"}"
        assert fl.holds(LINE_SUBJECT, "jsonl", None, line) is fl.Holds.MALFORMED, depth
        keyless = b'{"email": ' + b"[" * depth + b'"u42@x.io"' + b"]" * depth + b"}"
        assert fl.holds(identified, "jsonl", None, keyless) is fl.Holds.MALFORMED, depth


@pytest.mark.parametrize(("line", "held"), [
    (b'{"customer_id": null, "email": "u42@x.io"', fl.Holds.MALFORMED),  # cut short
    (b'{"customer_id": "x43", "email": "u42@x.io"}', fl.Holds.MALFORMED),  # broken key
    (b'{"customer_id": "x43", "email": "u42@x.io"', fl.Holds.MALFORMED),
    (b'{"customer_id": 43, "email": "u42@x.io"}', fl.Holds.NOTHING),  # another valid key
    (b'{"customer_id": 43, "email": "u42@x.io"', fl.Holds.NOTHING),
    (b'{"customer_id": "x43", "email": "u43@x.io"}', fl.Holds.NOTHING)])
def test_a_null_or_broken_key_leaves_the_line_to_the_identifiers(line: bytes,
                                                                  held: fl.Holds) -> None:
    """The module's rule: a line whose key is missing, null or broken is the subject's when it
    holds one of its identifiers; only another subject's valid key rules it out."""
    subject = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset({"u42@x.io"}),
                               ("email",))
    assert fl.holds(subject, "jsonl", None, line) is held


@pytest.mark.parametrize(("text", "parsed"), [
    ("customer_id=42", ("customer_id", "42")), (" email = a=b@x ", ("email", "a=b@x")),
    ("customer_id=", None), ("=42", None), ("customer_id= ", None), ("customer_id", None)])
def test_a_key_is_column_equals_value_split_at_the_first_equals_sign(
        text: str, parsed: tuple[str, str] | None) -> None:
    if parsed is None:
        with pytest.raises(ValueError, match="expected COLUMN=VALUE"):
            Subject.parse(text)
    else:
        assert Subject.parse(text) == Subject(*parsed)


def test_a_table_vacuumed_but_not_purged_holds_the_subject_in_its_log_statistics(
        tmp_path: Path) -> None:
    """After a DELETE and a VACUUM the data files are gone, but the log's `add` actions keep
    the deleted file's min/max (42 and its email): the table is still a holder, and a table
    whose older files never held the subject is none."""
    catalog = _people(tmp_path / "lake")
    catalog.overwrite("silver.people", PEOPLE.filter(pl.col("customer_id") >= 42))  # min 42
    catalog.delete("silver.people", '"customer_id" = 42')
    catalog.vacuum("silver.people", 0, enforce_retention_duration=False)
    others = pl.DataFrame({"customer_id": [7, 8], "email": ["a@x", "d@x"]})
    catalog.create_table("silver.others", others.schema, TableInfo(owner="team:data"))
    catalog.overwrite("silver.others", others)
    catalog.overwrite("silver.others", others.head(1))  # an older file without the subject
    found = _holders(catalog)
    assert (found["dev.silver.people"].rows, found["dev.silver.people"].predicate) == (0, None)
    assert "dev.silver.others" not in found
    et.erase(catalog, found["dev.silver.people"])
    assert "dev.silver.people" not in _holders(catalog)


def test_a_lakehouse_at_a_file_uri_finds_the_subject_in_older_files(tmp_path: Path) -> None:
    """A root given as a `file://` URI is local: its tables' older files and log are searched
    (they were not: the URI was taken for an object store's, and the subject's rows in an
    unvacuumed older file were kept)."""
    catalog = Catalog(f"file://{tmp_path}/lake", "dev")
    catalog.create_table("silver.people", PEOPLE.schema, TableInfo(
        owner="team:data", column_tags={"email": ["pii"]}))
    catalog.overwrite("silver.people", PEOPLE)
    catalog.overwrite("silver.people", PEOPLE.filter(pl.col("customer_id") != 42))
    (holder,) = _holders(catalog).values()
    assert (holder.name, holder.rows, holder.predicate) == ("dev.silver.people", 0, None)
    et.erase(catalog, holder)
    folder = tmp_path / "lake" / "dev" / "silver" / "people"
    assert all(b"b@x" not in p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert _holders(catalog) == {}


def test_statistics_kept_only_in_a_checkpoint_hold_the_subject(tmp_path: Path) -> None:
    """The log purged once (a checkpoint, no earlier commit), then the subject's rows deleted
    and vacuumed: only the checkpoint's `add` action of the deleted file keeps 42 as a min."""
    catalog = _people(tmp_path / "lake")
    location = catalog.location("silver.people")
    catalog.overwrite("silver.people", PEOPLE.filter(pl.col("customer_id") >= 42))  # min 42
    catalog.lake.purge_log(location)
    catalog.delete("silver.people", '"customer_id" = 42')
    catalog.vacuum("silver.people", 0, enforce_retention_duration=False)
    log = Path(location) / "_delta_log"
    assert not any(b"b@x" in p.read_bytes() for p in log.glob("*.json"))
    assert any(p.name.endswith(".checkpoint.parquet") for p in log.iterdir())
    found = _holders(catalog)
    assert (found["dev.silver.people"].rows, found["dev.silver.people"].predicate) == (0, None)
    et.erase(catalog, found["dev.silver.people"])
    assert "dev.silver.people" not in _holders(catalog)


def test_a_timeseries_table_published_to_redis_loses_only_the_subject_s_keys(
        redis_url: str, tmp_path: Path) -> None:
    """Redis: the place is named `redis:<table>` and writes no file (0 bytes); the snapshot
    keeps its version, keys, schema and timeseries column, only its publication time goes
    (readers refuse it until the next publish rewrites the store whole)."""
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    store = RedisStore(redis_url)
    day = datetime(2026, 3, 1, tzinfo=UTC)
    spend = pl.DataFrame({"customer_id": [42, 7], "ts": [day, day], "spend": [1.0, 2.0]}
                         ).with_columns(pl.col("ts").cast(STORED))
    fe = FeatureEngineeringClient(catalog, online_store=store)
    try:
        fe.create_table("gold.erased_spend", "customer_id", df=spend, timeseries_column="ts")
        fe.publish_table("gold.erased_spend")
        (found,) = erasure_online.plan(catalog, store,
                                       {"gold.erased_spend": {"customer_id": (pl.Int64, 42)}})
        before = store.snapshot(found.table)
        assert before.timeseries == "ts" and before.published_at is not None
        assert erasure_online.erase(store, found) == ErasedPlace(
            "online_store", "redis:dev.gold.erased_spend", len(found.keys), 0)
        after = store.snapshot(found.table)
        assert (after.version, after.keys, after.schema, after.timeseries, after.published_at
                ) == (before.version, before.keys, before.schema, "ts", None)
        assert set(store.read(found.table, found.keys)[1]) == {None}
        others = encode(spend.filter(pl.col("customer_id") != 42).select(before.keys),
                        before.keys).to_list()
        assert None not in store.read(found.table, others)[1]
    finally:
        fe.close()


RECORD, MALFORMED, NOTHING = fl.Holds.RECORD, fl.Holds.MALFORMED, fl.Holds.NOTHING
IDENTIFIED = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset({"u42@x.io"}), ("email",))


@pytest.mark.parametrize(("header", "line"), [
    (b"customer_id,email", b'42,"u42@x.io"x'),  # a broken quote: csv's strict reader refuses
    (b"customer_id,,email", b"42,,u42@x.io"),  # a header with an empty name: every line refused
])
def test_a_csv_line_bronze_rejects_is_malformed_never_a_record(header: bytes,
                                                                line: bytes) -> None:
    columns = ["customer_id", "email"]
    bronze = parse(header + b"\n" + line + b"\n", "csv", columns)
    assert bronze.records.height == 0 and bronze.rejects["raw"].to_list()[-1] == line.decode()
    assert fl.holds(IDENTIFIED, "csv", fl.CsvHeader.of(header, columns), line) is MALFORMED


def test_a_text_key_in_a_csv_line_that_is_not_utf8_is_found_quoted_or_not() -> None:
    """A line that is not UTF-8 is split at commas, each field's spaces and quotes stripped:
    the text key `X42` is found in `"X42"` (malformed), and `X4` is not it."""
    subject = fl.SourceSubject("account", pl.String, "X42")
    header = fl.CsvHeader.of(b"account,note", ["account", "note"])
    for line in (b'"X42",\xff', b' X42 ,\xff', b'X42,"\xff'):
        assert fl.holds(subject, "csv", header, line) is MALFORMED, line
    assert fl.holds(subject, "csv", header, b'"X4","X42\xff"') is NOTHING


def test_without_a_key_column_in_the_header_only_a_field_equal_to_the_key_counts() -> None:
    header = fl.CsvHeader.of(b"id,note", ["customer_id"])  # the key column missing: refused
    assert not header.accepted
    assert fl.holds(LINE_SUBJECT, "csv", header, b"7,note 42") is NOTHING
    assert fl.holds(LINE_SUBJECT, "csv", header, b"7,42") is MALFORMED


@pytest.mark.parametrize(("fmt", "line", "held"), [
    ("jsonl", b'{"email": "u42@x.io", "n": 1}', RECORD),
    ("jsonl", b'{"email": "u42@x.io", "n": 1', MALFORMED),  # cut short
    ("csv", b",u42@x.io,", RECORD),  # the key empty: the email is the subject's
    ("csv", b',,"by u42@x.io"', MALFORMED),  # named in a text only
    ("csv", b",u42@x.io", MALFORMED),  # a field short
])
def test_a_source_without_the_key_column_reads_lines_by_their_identifiers(
        fmt: str, line: bytes, held: fl.Holds) -> None:
    """A source whose declared schema has no `customer_id` (its files may still carry one):
    a line bronze reads is the subject's record by a pii field equal to an identifier, a line
    it rejects malformed, and a line naming the identifier in another field malformed."""
    subject = fl.SourceSubject("customer_id", None, "42", frozenset({"u42@x.io"}), ("email",))
    header = fl.CsvHeader.of(b"customer_id,email,note", ["email", "note"])
    assert fl.holds(subject, fmt, header if fmt == "csv" else None, line) is held


def test_a_record_whose_pii_value_cannot_be_written_back_is_malformed() -> None:
    """Near the stack limit `json.loads` reads a line whose pii value `json.dumps` cannot
    write back (RecursionError): the line is malformed for a subject whose pii that is (its
    key is read from the raw line), while a subject without pii columns reads it whole."""
    plain = fl.SourceSubject("customer_id", pl.Int64, "42")
    said = set()
    for depth in range(1, sys.getrecursionlimit() + 20):
        line = b'{"customer_id": 42, "email": ' + b"[" * depth + b'"u"' + b"]" * depth + b"}"
        said.add((fl.holds(plain, "jsonl", None, line), fl.holds(LINE_SUBJECT, "jsonl", None,
                                                                   line)))
    assert said == {(RECORD, RECORD), (RECORD, MALFORMED), (MALFORMED, MALFORMED)}


def test_pii_values_of_a_line_that_is_no_record_are_those_it_names() -> None:
    header = fl.CsvHeader.of(b"customer_id,email", ["customer_id", "email"])
    assert fl.pii_values(LINE_SUBJECT, "csv", header, b"42,u@x.io,extra") == ["u@x.io"]
    assert fl.pii_values(LINE_SUBJECT, "csv", header, b'42,"u@x') == []
    assert fl.pii_values(LINE_SUBJECT, "jsonl", None, b'["u@x.io"]') == []
    assert fl.pii_values(LINE_SUBJECT, "jsonl", None, b'{"email": "u@x.io"}') == ["u@x.io"]


def test_an_identifier_with_a_quote_is_found_as_a_csv_field_spells_it() -> None:
    """A pii value holding `"` is written `"Robert ""Bob"" Smith"` in a CSV file: a line whose
    key is missing is the subject's by it, parsed or not (such lines were not even looked at:
    no byte of the line was the identifier as it is, and the line was kept)."""
    bob = 'Robert "Bob" Smith'
    subject = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset({bob}), ("name",))
    header = fl.CsvHeader.of(b"customer_id,name", ["customer_id", "name"])
    lines = [b',"Robert ""Bob"" Smith"', b',"Robert ""Bob"" Smith",extra',
             b'\xff,"Robert ""Bob"" Smith"', b'7,"Robert ""Bob"" Smith"']
    assert subject.candidates(lines) == [True] * 4
    assert [fl.holds(subject, "csv", header, line) for line in lines] == [
        MALFORMED, MALFORMED, MALFORMED, NOTHING]  # the last: another subject's valid key
    assert fl.pii_values(subject, "csv", header, b'42,"Robert ""Bob"" Smith"') == [bob]


@pytest.mark.parametrize("line", [
    b'{"customer_id": null, "name": "Robert \\"Bob\\" Sm\xc3\xa9"',  # cut short
    b'{"customer_id": null, "name": "Robert \\"Bob\\" Sm\\u00e9"',
    b'{"name": "Robert \\"Bob\\" Sm\\u00e9", "x": "\xff"}'])  # not UTF-8
def test_an_identifier_escaped_in_a_broken_json_line_is_found(line: bytes) -> None:
    """A JSON line that cannot be parsed and has no usable key is the subject's when it spells
    an identifier as JSON does (`\\"` for `"`, `\\u00e9` or `é`)."""
    subject = fl.SourceSubject("customer_id", pl.Int64, "42", frozenset({'Robert "Bob" Smé'}),
                               ("name",))
    assert fl.holds(subject, "jsonl", None, line) is MALFORMED


def test_the_prefilter_reads_names_and_values_as_text_not_patterns() -> None:
    # A key column, a key value and an email holding regex metacharacters ('(', '+', '.'):
    # as patterns, none of them would match its own text and the row would be kept.
    needles = m.Needles(Subject("id(x)", "a+b"), {"email": frozenset({"c+d@e.io"})})
    frame = pl.DataFrame({"a": ['{"id(x)": "a+b"}', '{"idx": "a+b"}', '{"id(x)": "ab"}',
                                "mail c+d@e.io", "mail cd@e.io", "mail ccd@eXio"]})
    keep = m.text_prefilter(["a"], needles)
    assert frame.with_row_index().filter(keep)["index"].to_list() == [0, 3]


@pytest.mark.parametrize(("document", "said"), [
    # 64 dicts deep is searched, 65 is not (the bound counts dict levels as list levels)
    (lambda: "".join('{"a": ' for _ in range(64)) + '{"customer_id": 42}' + "}" * 64, True),
    (lambda: "".join('{"a": ' for _ in range(65)) + '{"customer_id": 42}' + "}" * 65, False),
    # a text holding JSON counts one level as it is parsed: 63 lists + the text, then not 64
    (lambda: "[" * 63 + json.dumps('{"customer_id": 42}') + "]" * 63, True),
    (lambda: "[" * 64 + json.dumps('{"customer_id": 42}') + "]" * 64, False),
])
def test_dicts_and_texts_holding_json_count_toward_the_64_levels(document: object,
                                                                 said: bool) -> None:
    assert m.mentions(document(), NEEDLES) is said  # type: ignore[operator]


def test_a_row_with_a_null_key_and_null_pii_is_not_counted_as_the_subject_s(
        tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    people = pl.DataFrame({"customer_id": [42, None, 7], "email": ["b@x", None, None]})
    catalog.create_table("silver.people", people.schema,
                         TableInfo(owner="team:data", column_tags={"email": ["pii"]}))
    catalog.overwrite("silver.people", people)
    (holder,) = _holders(catalog).values()
    assert (holder.rows, holder.predicate) == (
        1, "(\"customer_id\" = 42) OR (\"email\" IN ('b@x'))")


def test_erase_reports_the_bytes_of_the_files_the_delete_wrote(tmp_path: Path) -> None:
    catalog = _people(tmp_path / "lake")
    holder = _holders(catalog)["dev.silver.people"]
    assert et.place(holder).bytes_rewritten == 0  # a dry run writes nothing
    location = catalog.location("silver.people")
    before = et._file_sizes(catalog, location)
    place = et.erase(catalog, holder)
    after = et._file_sizes(catalog, location)
    assert set(after).isdisjoint(before)  # the one file was rewritten, none kept
    assert place.bytes_rewritten == sum(after.values()) > 0


def _table(root: Path, name: str, frame: pl.DataFrame, pii: tuple[str, ...] = ()) -> Catalog:
    catalog = Catalog(str(root), "dev")
    catalog.create_table(name, frame.schema, TableInfo(
        owner="team:data", column_tags={c: ["pii"] for c in pii}))
    catalog.overwrite(name, frame)
    return catalog


def test_rows_found_by_key_and_inside_a_text_add_up_each_counted_once(tmp_path: Path) -> None:
    catalog = _table(tmp_path / "lake", "ops.requests", pl.DataFrame({
        "request_id": ["r1", "r2", "r3", "r4"], "customer_id": [42, 7, 42, 7],
        "body": ["x", '{"customer_id": 42}', '{"customer_id": 42}', "y"]}))
    (holder,) = _holders(catalog).values()
    assert (holder.rows, holder.predicate, holder.problem) == (
        3, "(\"customer_id\" = 42) OR (\"request_id\" IN ('r2', 'r3'))", None)


def test_key_rows_beside_texts_that_cannot_be_deleted_keep_the_problem(tmp_path: Path) -> None:
    catalog = _table(tmp_path / "lake", "ops.notes", pl.DataFrame({
        "customer_id": [42, 7], "note": ["x", '{"customer_id": 42}']}))
    (holder,) = _holders(catalog).values()
    assert (holder.rows, holder.predicate) == (1, "(\"customer_id\" = 42)")
    assert holder.problem == ("1 row(s) name the subject inside a text, and the table has no "
                              "row id column (_record_id, request_id) to delete them by")


def test_text_keys_found_by_a_pii_value_alone_are_not_the_subject_s(tmp_path: Path) -> None:
    # customer 7 shares the subject's email in one row: that row goes, 7's other rows stay
    catalog = _table(tmp_path / "lake", "bronze.people", pl.DataFrame({
        "customer_id": [" 42", "7", "7", None], "email": ["b@x", "b@x", "z@x", "b@x"]}),
        pii=("email",))
    (holder,) = _holders(catalog).values()
    assert (holder.rows, holder.predicate) == (
        3, "(\"customer_id\" IN (' 42')) OR (\"email\" IN ('b@x'))")
    catalog.delete("bronze.people", holder.predicate)
    assert catalog.read("bronze.people")["email"].to_list() == ["z@x"]


def test_a_key_neither_integer_nor_text_is_compared_quoted(tmp_path: Path) -> None:
    catalog = _table(tmp_path / "lake", "silver.scores", pl.DataFrame({
        "score": [1.5, 2.5], "n": [1, 2]}))
    (holder,) = _holders(catalog, Subject("score", "1.5")).values()
    assert (holder.rows, holder.predicate) == (1, "(\"score\" = '1.5')")
    catalog.delete("silver.scores", holder.predicate)
    assert catalog.read("silver.scores")["n"].to_list() == [2]


def test_pii_values_come_from_key_rows_of_tagged_tables_and_an_empty_one_is_none(
        tmp_path: Path) -> None:
    # 42 has an empty email in one row (as customer 7 does): '' names nobody, and a table
    # with a pii column but no key column gives no values (it is searched by them)
    catalog = _table(tmp_path / "lake", "silver.people", pl.DataFrame({
        "customer_id": [42, 42, 7], "email": ["b@x", "", ""]}), pii=("email",))
    contacts = pl.DataFrame({"email": ["b@x", "q@x"]})
    catalog.create_table("ops.contacts", contacts.schema, TableInfo(
        owner="team:data", column_tags={"email": ["pii"]}))
    catalog.overwrite("ops.contacts", contacts)
    keys = et.keys_of(catalog, SUBJECT, {})
    assert et.needles(catalog, SUBJECT, keys).pii == {"email": frozenset({"b@x"})}
    with pytest.raises(ValueError, match=r"^--key customer_id='x': dev\.silver\.people\."
                       r"customer_id is Int64, and 'x' is not one$"):
        et.keys_of(catalog, Subject("customer_id", "x"), {})


@pytest.mark.parametrize("line", [b'{"customer_id": null, "email": "u7@x.io"',
                                  b'{"customer_id":null}x'])
def test_a_raw_json_null_key_is_no_key_not_the_text_null(line: bytes) -> None:
    # a text key whose value is 'null': a line cut short with the key null is not its
    subject = fl.SourceSubject("customer_id", pl.String, "null", frozenset({"u42@x.io"}),
                               ("email",))
    assert fl.holds(subject, "jsonl", None, line) is fl.Holds.NOTHING
    assert fl.holds(subject, "jsonl", None, line.replace(b"null", b'"null"')) is not (
        fl.Holds.NOTHING)


def test_the_plan_matches_a_text_key_as_erasure_does_and_keeps_a_narrow_key_type(
        tmp_path: Path) -> None:
    # a text key stored ' 42' in a two-key table is the subject's (as offline); an Int32 key
    # meets the subject's value (Int64 as written) without a type error
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    store = SQLiteStore(tmp_path / "online")
    frames = {"gold.visits": (pl.DataFrame({"customer_id": [" 42", "7"], "day": ["d1", "d1"],
                                            "n": [1, 2]}), ["customer_id", "day"]),
              "gold.small": (pl.DataFrame({"customer_id": [42, 7], "n": [1, 2]},
                                          schema_overrides={"customer_id": pl.Int32}),
                             ["customer_id"])}
    for name, (frame, keys) in frames.items():
        catalog.create_table(name, frame.schema, TableInfo(owner="team:data"))
        catalog.overwrite(name, frame)
        publish(store, f"dev.{name}", keys, None, catalog.version(name),
                lambda v, t, f=frame: f)
    found = erasure_online.plan(catalog, store, {
        "gold.visits": {"customer_id": (pl.String, "42")},
        "gold.small": {"customer_id": (pl.Int32, 42)}})
    assert {o.table: o.keys for o in found} == {
        "dev.gold.visits": encode(frames["gold.visits"][0].head(1), ["customer_id", "day"]
                                  ).to_list(),
        "dev.gold.small": encode(frames["gold.small"][0].head(1), ["customer_id"]).to_list()}


def test_key_columns_end_on_declarations_that_derive_in_a_cycle() -> None:
    import threading
    schemas = {"silver.people": pl.Schema({"customer_id": pl.Int64}),
               "gold.scores": pl.Schema({"cid": pl.Int64})}
    derived = {"gold.scores": {"cid": [("silver.people", "customer_id")]},
               "silver.people": {"customer_id": [("gold.scores", "cid")]}}
    result: list[dict] = []
    worker = threading.Thread(target=lambda: result.append(
        m.key_columns(SUBJECT, schemas, derived)), daemon=True)
    worker.start()
    worker.join(10)
    assert result == [{"gold.scores": {"cid": pl.Int64},
                       "silver.people": {"customer_id": pl.Int64}}]


def test_the_plan_lists_tables_the_principal_may_not_see(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse_ml.governance import Metastore
    catalog = _people(tmp_path / "lake")  # created by the metastore admin (the local user)
    Metastore(catalog.root, "dev").add_principal("ann")
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "ann")  # ann runs it, and holds no grant
    ann = Catalog(catalog.root, "dev", principal="ann")
    assert sorted(t.short for t in et.tables(ann)) == [
        "ops.notes", "ops.requests", "silver.people"]
