"""Point-in-time mutants that survived `make mutation` (issue 8), each killed at the value that
tells the correct code from the mutant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import polars as pl
import pytest

from lakehouse_ml.features import FeatureEngineeringClient, FeatureFunction, FeatureLookup
from lakehouse_ml.features.errors import FeatureCollisionError, FeatureStoreError
from lakehouse_ml.features.pit import is_sorted

from .timeline import at, utc_frame


@pytest.mark.parametrize(("a", "b"), [("a", "b"), (1, 2)], ids=["string_key", "integer_key"])
def test_the_as_of_join_sorts_a_table_stored_out_of_order(
    fe: FeatureEngineeringClient, a: str | int, b: str | int
) -> None:
    """A second write stores key a's day-5 row after key b's, so the stored rows are not in
    (key, time) order and must be sorted before the as-of join: grouped by key for a string key
    (`_asof_by_key`), on the folded (key, time) for an integer one (`_asof_folded`). Kills the
    sortedness test inverted and the sort dropped in either."""
    fe.create_table("gold.stock", "store", timeseries_column="ts",
                    df=utc_frame({"store": [a, b], "ts": [at(0), at(0)], "units": [1, 2]}))
    fe.write_table("gold.stock", utc_frame({"store": [a], "ts": [at(5)], "units": [5]}))
    stored = fe.read_table("gold.stock").select("store", "ts").rows()
    assert stored != sorted(stored)  # the premise: the table is read out of (key, time) order
    rows = utc_frame({"store": [a, a, b, b], "t": [at(6), at(1), at(6), at(1)]})
    lookup = FeatureLookup("gold.stock", "store", "t")
    out = fe.create_training_set(rows, [lookup], label=None).load_df()
    assert out["units"].to_list() == [5, 1, 2, 2]


@pytest.mark.parametrize(("rows", "expected"), [
    ([(1, 1), (1, 2), (2, 0)], True),  # a tie on the first column, broken by the second
    ([(1, 1), (1, 1), (2, 0)], True),  # equal rows are in order
    ([(1, 2), (1, 1)], False),  # the second column descends within a tie of the first
    ([(2, 0), (1, 5)], False),  # the first column descends, the second ascends
    ([(1, 0), (3, 0), (2, 0)], False),  # out of order only against the row just before
    ([(1, 0)], True),
])
def test_is_sorted_is_ascending_lexicographic_order(
    rows: list[tuple[int, int]], expected: bool
) -> None:
    """Kills every mutant of `is_sorted` that survived (its start value, `>`/`==`/`|`/`&`,
    `shift(1)`, `fill_null(True)`): a False answer for sorted rows only costs a sort, but a True
    one for unsorted rows gives the as-of join unsorted input."""
    frame = pl.DataFrame(rows, schema=["k", "t"], orient="row")
    assert is_sorted(frame, ["k", "t"]) is expected


def test_row_lookup_reads_negative_float32_features(fe: FeatureEngineeringClient) -> None:
    """Float32 features travel as their signed 32-bit pattern: a negative value (sign bit set)
    is a negative int. Kills `struct.pack("<i")` → `"<I"` in `_float32`, which refuses it."""
    values = pl.Series([-1.5, -0.0, 2.25], dtype=pl.Float32)
    fe.create_table("gold.temp", "cid", df=pl.DataFrame({"cid": [1, 2, 3], "delta": values}))
    fe.publish_table("gold.temp")
    lookup = fe.row_lookup([FeatureLookup("gold.temp", "cid")], pl.Schema({"cid": pl.Int64}),
                           ["delta"])
    got = lookup({"cid": [1, 2, 3]}, at(0))["delta"]
    assert [repr(value) for value in got] == ["-1.5", "-0.0", "2.25"]


def test_a_function_over_columns_chosen_by_type_gets_every_column(
    fe: FeatureEngineeringClient,
) -> None:
    """A function whose expression names no column (a dtype selector) may read any column, so
    the row lookup fetches all of them. Kills `names and all(...)` → `names or all(...)` in
    `_inputs`, which takes it for a function that reads nothing."""
    fe.create_table("gold.fees", "cid", df=pl.DataFrame(
        {"cid": [1, 2], "base": [1.5, 3.0], "extra": [0.25, 1.0]}))
    fe.publish_table("gold.fees")
    steps = [FeatureLookup("gold.fees", "cid"),
             FeatureFunction("total", pl.sum_horizontal(pl.col(pl.Float64)))]
    lookup = fe.row_lookup(steps, pl.Schema({"cid": pl.Int64}), ["total"])
    assert lookup({"cid": [1, 2]}, at(0))["total"] == [1.75, 4.0]


# --- survivors of the complete point-in-time run of 2026-12-01 -----------------------------

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_NS = pl.Datetime("ns", "UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1) * 1_000


def _fold_aliases() -> tuple[int, int, int]:
    """Two Int64 keys k1 < k2 and a span x (0 < x < 2**63) with k2 * 3**64 == k1 * 3**64 + x
    modulo 2**128: the shortest vector of the lattice {(d, d * 3**64 mod 2**128)} (Gauss)."""
    u, v = (1, 3**64 % 2**128), (0, 2**128)
    while True:
        if u[0] ** 2 + u[1] ** 2 > v[0] ** 2 + v[1] ** 2:
            u, v = v, u
        m = round(Fraction(u[0] * v[0] + u[1] * v[1], u[0] ** 2 + u[1] ** 2))
        if m == 0:
            break
        v = (v[0] - m * u[0], v[1] - m * u[1])
    d, x = u if u[0] > 0 else (-u[0], -u[1])
    assert 0 < d < 2**64 and 0 < x < 2**63
    return _I64_MIN, _I64_MIN + d, x


def _fold_cases() -> dict[str, tuple[list[tuple[int, int, int]], list[tuple[int, int]],
                                      list[int]]]:
    """(feature rows (key, µs since 1970, units), requests (key, ns since 1970), units found).
    Every key is requested, so that the scan's key bounds keep every row."""
    day_us, day_ns = 86_400_000_000, 86_400_000_000_000
    k1, k2, x = _fold_aliases()
    t0 = _ns(at(0))
    # key k0's fold (key * 2**64 + time + 3**63) passes 2**127 at time `cross` (ns, ~2072)
    k0 = (2**127 - 3**63) // 2**64
    cross = 2**127 - 3**63 - k0 * 2**64
    return {
        # 1969 rows of the extreme keys, asked for in 1970: a fold that overflows Int128 for
        # them (offset + 2**64; + 126 instead of + 2**63) wraps the request away from the row
        "int64_max_across_1970": ([(_I64_MAX, -day_us, 7)], [(_I64_MAX, day_ns)], [7]),
        "int64_min_across_1970": ([(_I64_MIN, -day_us, 7)], [(_I64_MIN, day_ns)], [7]),
        # keys 2**63 apart fold alike with a factor of 2**65: key -1's row must win
        "keys_2**63_apart": ([(-1, 0, 1), (_I64_MAX, day_us, 2)],
                             [(-1, 2 * day_ns), (_I64_MAX, 2 * day_ns)], [1, 2]),
        # keys k1 and k2 fold x apart with a factor of 3**64: k2's 1970s row lands between k1's
        # row and its request
        "keys_aliased_by_3**64": ([(k1, t0 // 1_000, 1), (k2, (t0 + day_ns // 2 - x) // 1_000, 2)],
                                  [(k1, t0 + day_ns), (k2, t0 + day_ns)], [1, 2]),
        # key k0's row a day before `cross`, its request a day after
        "fold_crossing_2**127_with_3**63": ([(k0, (cross - day_ns) // 1_000, 3)],
                                            [(k0, cross + day_ns)], [3]),
    }


@pytest.mark.parametrize("case", list(_fold_cases()))
def test_the_folded_as_of_join_finds_rows_at_extreme_keys_and_times(
    fe: FeatureEngineeringClient, case: str
) -> None:
    """`_fold` packs (Int64 key, time) into one Int128, key in the high 64 bits, time + 2**63
    in the low: exactly the range of an Int128, ordered like the pair. Requests timed in
    nanoseconds (the join then runs in ns) find the feature row they are owed at the extreme
    keys and times where a changed factor (3**64, 2**65) or offset (2**64, 126, 3**63) overflows
    or aliases two keys."""
    rows, requests, expected = _fold_cases()[case]
    table = pl.DataFrame(rows, schema={"k": pl.Int64, "ts": pl.Int64, "units": pl.Int64},
                         orient="row").with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    fe.create_table("gold.far", "k", timeseries_column="ts", df=table)
    request = pl.DataFrame(requests, schema={"k": pl.Int64, "t": pl.Int64}, orient="row"
                           ).with_columns(pl.col("t").cast(_NS))
    out = fe.create_training_set(request, [FeatureLookup("gold.far", "k", "t")],
                                 label=None).load_df()
    assert out["units"].to_list() == expected


@pytest.fixture
def stock(fe: FeatureEngineeringClient) -> str:
    """`gold.stock` keyed by `store` (Int64), in time: store 1 on days 0 and 2."""
    fe.create_table("gold.stock", "store", timeseries_column="ts", df=utc_frame(
        {"store": [1, 1], "ts": [at(0), at(2)], "units": [10, 12]}))
    return str(fe.catalog.name("gold.stock"))


@pytest.mark.parametrize(("rows", "lookup", "message"), [
    (pl.DataFrame({"shop": [1]}, schema={"shop": pl.Int32}), FeatureLookup("gold.stock", "shop"),
     "lookup on {table}: lookup key column 'shop' is Int32 but the table's key 'store' is Int64"),
    (pl.DataFrame({"shop": [1]}), FeatureLookup("gold.stock", "branch"),
     "lookup on {table}: lookup key column(s) ['branch'] not in the rows"),
    (pl.DataFrame({"shop": [1], "t": [at(1).replace(tzinfo=None)]}),
     FeatureLookup("gold.stock", "shop", "t"),
     "lookup on {table}, rows: timestamp column 't' has type Datetime"),
], ids=["key_dtype", "missing_key_column", "naive_time"])
def test_a_refused_lookup_names_its_table_column_and_key(
    fe: FeatureEngineeringClient, stock: str, rows: pl.DataFrame, lookup: FeatureLookup,
    message: str,
) -> None:
    """Kills `where = None`, the key or `where` of `require_key_dtype` set to None, the `where`
    of `require_aware` set to None and `missing = None` in `resolve` (the last one raised a
    polars error naming no lookup)."""
    with pytest.raises(FeatureStoreError) as refused:
        fe.create_training_set(rows, [lookup], label=None)
    assert str(refused.value).startswith(message.format(table=stock))


def test_a_training_set_reports_which_row_each_lookup_matched_and_when(
    fe: FeatureEngineeringClient, stock: str
) -> None:
    """`load_with_matches` gives, per lookup, whether each row matched and the UTC time of the
    row it matched (None for a table without time): what the leakage and missing-feature checks
    read. Kills `Joined(..., None, ...)`, `matched_at = None` (or its test forced false) and
    `select(None)` in `join_matched`."""
    fe.create_table("gold.region", "store", df=pl.DataFrame({"store": [1], "area": ["n"]}))
    rows = utc_frame({"store": [1, 1, 2], "t": [at(3), at(1), at(3)]})
    ts = fe.create_training_set(
        rows, [FeatureLookup("gold.stock", "store", "t"), FeatureLookup("gold.region", "store")],
        label=None)
    _, (timed, untimed) = ts.load_with_matches()
    assert timed.matched.to_list() == [True, True, False]
    assert timed.matched_at is not None
    assert timed.matched_at.dtype == pl.Datetime("us", "UTC")
    assert timed.matched_at.to_list() == [at(2), at(0), None]
    assert untimed.matched.to_list() == [True, True, False]
    assert untimed.matched_at is None


def test_a_lookup_without_time_on_a_timed_table_serves_the_latest_row_whatever_the_time(
    fe: FeatureEngineeringClient, stock: str
) -> None:
    """Without a `timestamp_lookup_key` a lookup takes the latest published row of its key,
    online and row by row, even when asked before that row's time (as offline). Kills
    `time is None or ts is None` → `and` in `LatestJoin.of` (it then looked for a time column
    named None) and `timestamp_lookup_key is not None and ts is not None` → `or` in
    `_TableRows.of` (it applied the time rule)."""
    fe.publish_table("gold.stock")
    lookup = FeatureLookup("gold.stock", "store")
    online = fe.lookup_online(pl.DataFrame({"store": [1, 2]}), [lookup])
    assert online["units"].to_list() == [12, None]
    rows = fe.row_lookup([lookup], pl.Schema({"store": pl.Int64}), ["units"])
    assert rows({"store": [1, 2]}, at(-1))["units"] == [12, None]


def test_a_row_looked_up_at_exactly_its_feature_time_matches_to_the_nanosecond(
    fe: FeatureEngineeringClient,
) -> None:
    """The serving time becomes integer nanoseconds since 1970; a float (`/` for `//` in
    `_nanoseconds`) rounds 2024's nanoseconds to multiples of 256, below the feature row's own
    stamp for some microseconds, and the row stamped exactly at the serving time was missed."""
    base = _ns(at(0)) // 1_000
    micros = next(m for m in range(base, base + 1_000) if float(m) * 1_000 < m * 1_000)
    stamp = _EPOCH + timedelta(microseconds=micros)
    fe.create_table("gold.tick", "cid", timeseries_column="ts",
                    df=utc_frame({"cid": [1], "ts": [stamp], "price": [4]}))
    fe.publish_table("gold.tick")
    rows = fe.row_lookup([FeatureLookup("gold.tick", "cid", "t")],
                         pl.Schema({"cid": pl.Int64}), ["price"])
    assert rows({"cid": [1]}, stamp)["price"] == [4]
    assert rows({"cid": [1]}, stamp - timedelta(microseconds=1))["price"] == [None]


@pytest.fixture
def fees(fe: FeatureEngineeringClient) -> FeatureEngineeringClient:
    """Published `gold.fees` keyed by `cid`: Float64 `base`, `extra` and Float32 `rate`."""
    fe.create_table("gold.fees", "cid", df=pl.DataFrame(
        {"cid": [1, 2], "base": [1.5, 3.0], "extra": [0.25, 1.0],
         "rate": pl.Series([0.1, 0.7], dtype=pl.Float32)}))
    fe.publish_table("gold.fees")
    return fe


def _served_both_ways(fe: FeatureEngineeringClient, steps: list, cids: list[int],
                      needed: list[str]) -> dict[str, list]:
    """The row lookup's `needed` columns, checked equal to `lookup_online`'s."""
    rows = fe.row_lookup(steps, pl.Schema({"cid": pl.Int64}), needed)({"cid": cids}, at(0))
    online = fe.lookup_online(pl.DataFrame({"cid": cids}), steps).select(needed)
    assert rows == online.to_dict(as_series=False)
    return rows


def test_feature_functions_read_the_key_and_are_remembered_apart(
    fees: FeatureEngineeringClient,
) -> None:
    """Two expressions over the same input column keep their own outputs, and a function may
    read the request's key. Kills `id(function)` → `id(None)` in the memo key (the second
    function got the first one's outputs) and the request columns set only where they are
    keys (the key `cid` then read as the serving time)."""
    steps = [FeatureLookup("gold.fees", "cid"),
             FeatureFunction("plus", pl.col("base") + 1),
             FeatureFunction("times", pl.col("base") * 10),
             FeatureFunction("twice_cid", pl.col("cid") * 2)]
    got = _served_both_ways(fees, steps, [1, 2], ["plus", "times", "twice_cid"])
    assert got == {"plus": [2.5, 4.0], "times": [15.0, 30.0], "twice_cid": [2, 4]}


def test_a_function_of_two_columns_gets_them_row_by_row(fees: FeatureEngineeringClient) -> None:
    """The remembered function's input frame is built from rows (`orient="row"`): with two
    rows of two columns polars would otherwise take them for columns."""
    steps = [FeatureLookup("gold.fees", "cid"),
             FeatureFunction("gap", pl.col("base") - pl.col("extra"))]
    assert _served_both_ways(fees, steps, [1, 2], ["gap"]) == {"gap": [1.25, 2.0]}


def test_a_python_function_sees_its_inputs_with_their_stored_types(
    fees: FeatureEngineeringClient,
) -> None:
    """A function that is not an expression gets a frame of its inputs typed as stored: a
    Float32 feature times 3 is a Float32 product (0.3 as Float32, not 0.1 as Float32 times 3
    in Float64). Kills the frame's `schema=typed` dropped or None, the frame or the series
    replaced by None, and the frame left empty, in `with_unmatched`."""
    steps = [FeatureLookup("gold.fees", "cid"),
             FeatureFunction("tripled", lambda frame: frame["rate"] * 3)]
    got = _served_both_ways(fees, steps, [1, 2], ["tripled"])
    assert got == {"tripled": (pl.Series([0.1, 0.7], dtype=pl.Float32) * 3).to_list()}
    assert got["tripled"][0] != pl.Series([0.1], dtype=pl.Float32).cast(pl.Float64)[0] * 3


def test_a_float32_default_is_served_as_float32(fees: FeatureEngineeringClient) -> None:
    """A default fills a Float32 feature as `fill_null` does, keeping Float32: 0.1 is served as
    Float32's 0.1 for an unknown key, and a function sees a Float32 column. Kills
    `pl.Series([None], dtype=dtype)` with the dtype dropped or None in `_TableRows.of` (the
    default then widened the column to Float64)."""
    steps = [FeatureLookup("gold.fees", "cid", default_values={"rate": 0.1}),
             FeatureFunction("rate3", pl.col("rate") * 3)]
    got = _served_both_ways(fees, steps, [2, 3], ["rate", "rate3"])
    as_float32 = pl.Series([0.1, 0.7], dtype=pl.Float32)
    assert got == {"rate": [as_float32[1], as_float32[0]],
                   "rate3": [(as_float32 * 3)[1], (as_float32 * 3)[0]]}


def test_a_row_lookup_is_checked_against_the_published_version_of_its_table(
    fe: FeatureEngineeringClient,
) -> None:
    """The online rows are those of the published version; a feature `extra` written since
    (not published) is refused by name when the row lookup is built, as `lookup_online`
    refuses it, rather than served as null. Kills `snapshot(name).version` → None in
    `RowLookup.__init__` and `_table_at(name, version)` → `(name, None)` in `_resolve` (both
    checked the lookup against the latest version)."""
    fe.create_table("gold.shelf", "cid", df=pl.DataFrame({"cid": [1, 2], "units": [5, 6]}))
    fe.publish_table("gold.shelf")
    fe.write_table("gold.shelf", pl.DataFrame({"cid": [1], "units": [7], "extra": [1.5]}))
    keys = pl.Schema({"cid": pl.Int64})
    rows = fe.row_lookup([FeatureLookup("gold.shelf", "cid")], keys, ["units"])
    assert rows({"cid": [2, 1, 3]}, at(0)) == {"units": [6, 5, None]}
    extra = FeatureLookup("gold.shelf", "cid", feature_names=["extra"])
    refused = r"feature\(s\) \['extra'\] not in"
    with pytest.raises(FeatureStoreError, match=refused):
        fe.lookup_online(pl.DataFrame({"cid": [1]}), [extra])
    with pytest.raises(FeatureStoreError, match=refused):
        fe.row_lookup([extra], keys, ["extra"])


def test_a_row_lookup_refuses_an_output_named_like_a_request_column(
    fees: FeatureEngineeringClient,
) -> None:
    """A function whose output is named like the key column collides with the request's
    column, as in `lookup_online`. Kills the collision check run on `pl.DataFrame(schema=None)`
    (no request columns) in `RowLookup.__init__`."""
    steps = [FeatureLookup("gold.fees", "cid"), FeatureFunction("cid", pl.col("base") * 2)]
    with pytest.raises(FeatureCollisionError, match="column 'cid' from feature function 'cid'"):
        fees.row_lookup(steps, pl.Schema({"cid": pl.Int64}), ["cid"])


def test_no_rows_get_no_values_through_chained_functions(fees: FeatureEngineeringClient) -> None:
    """A request of no rows still types each function's output, which the next function
    reads. Kills `self._dtype is None` → `is not None` and the start value `None` → `""` in
    `_Remembered` (no output type for an empty first call)."""
    steps = [FeatureLookup("gold.fees", "cid"),
             FeatureFunction("plus", pl.col("base") + 1),
             FeatureFunction("plus2", pl.col("plus") + 1)]
    rows = fees.row_lookup(steps, pl.Schema({"cid": pl.Int64}), ["plus", "plus2"])
    assert rows({"cid": []}, at(0)) == {"plus": [], "plus2": []}
    assert rows({"cid": [1]}, at(0)) == {"plus": [2.5], "plus2": [3.5]}


def test_a_row_lookup_refuses_a_key_of_another_type_naming_the_online_lookup(
    fees: FeatureEngineeringClient,
) -> None:
    """A key value of another type is refused before any read, by a message that says where.
    Kills the `check_keys` label `"online lookup"` changed or None, and its schema emptied
    (`pl.Schema(None)`: nothing checked), in `with_unmatched`."""
    rows = fees.row_lookup([FeatureLookup("gold.fees", "cid")], pl.Schema({"cid": pl.Int64}),
                           ["base"])
    with pytest.raises(FeatureStoreError) as refused:
        rows({"cid": [1, "2"]}, at(0))
    assert str(refused.value).startswith("online lookup: key column 'cid' is Int64; got '2'")
