"""Tests for the synthetic churn landing-data generator.

Every file is re-read line by line with an independent parser (json / csv from the standard
library), so the tests check what is on disk, not what the generator believes it wrote.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse_ml.domains.churn.generator import (
    COLUMNS,
    LINE_KINDS,
    PARAMS_FILE,
    SOURCES,
    GenerationReport,
    generate,
    generate_next_day,
)

START = date(2026, 1, 1)
EXT = {
    "customers": "csv",
    "orders": "json",
    "events": "json",
    "tickets": "csv",
    "churn_labels": "json",
}
KEYS = {
    "customers": "customer_id",
    "orders": "order_id",
    "events": "event_id",
    "tickets": "ticket_id",
    "churn_labels": "customer_id",
}
# The column whose UTC date decides the folder a record belongs in.
TIME_COLUMN = {
    "customers": "updated_at",
    "orders": "updated_at",
    "events": "event_ts",
    "tickets": "updated_at",
    "churn_labels": "label_timestamp",
}
EXTRA = {"customers": "referral_code", "events": "app_version"}
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# --------------------------------------------------------------------------- parsing helpers
class WrongType(ValueError):
    pass


def _ts(v: object) -> datetime:
    if not isinstance(v, str) or not TS_RE.match(v):
        raise WrongType(v)
    return datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _date(v: object) -> date:
    if not isinstance(v, str) or not re.match(r"^\d{4}-\d{2}-\d{2}$", v):
        raise WrongType(v)
    return date.fromisoformat(v)


def _int(v: object) -> int:
    if isinstance(v, bool):
        raise WrongType(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.match(r"^\d+$", v):
        return int(v)
    raise WrongType(v)


def _float(v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise WrongType(v)
    if round(v, 2) != v:
        raise WrongType(v)
    return float(v)


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise WrongType(v)
    return v


def _match(pattern: str) -> Callable[[object], str]:
    def check(v: object) -> str:
        if not isinstance(v, str) or not re.match(pattern, v):
            raise WrongType(v)
        return v

    return check


def _enum(*values: str) -> Callable[[object], str]:
    def check(v: object) -> str:
        if v not in values:
            raise WrongType(v)
        return v  # type: ignore[return-value]

    return check


def _nullable(inner: Callable[[object], object]) -> Callable[[object], object]:
    return lambda v: None if v is None else inner(v)


TYPES: dict[str, dict[str, Callable[[object], object]]] = {
    "customers": {
        "customer_id": _int,
        "email": _match(r"^user\d+@example\.com$"),
        "country": _enum("US", "GB", "DE", "FR", "IN", "BR"),
        "plan_tier": _enum("basic", "pro", "enterprise"),
        "tenant_id": _match(r"^t-\d{2}$"),
        "signup_date": _date,
        "updated_at": _ts,
    },
    "orders": {
        "order_id": _match(r"^o-\d+$"),
        "customer_id": _int,
        "order_ts": _ts,
        "amount": _float,
        "status": _enum("placed", "shipped", "cancelled"),
        "product_id": _match(r"^p-\d{3}$"),
        "updated_at": _ts,
    },
    "events": {
        "event_id": _match(r"^e-\d+$"),
        "customer_id": _int,
        "event_ts": _ts,
        "event_type": _enum("session_start", "page_view", "login", "purchase"),
        "session_id": _match(r"^s-\d+$"),
        "product_id": _nullable(_match(r"^p-\d{3}$")),
        "revenue": _nullable(_float),
    },
    "tickets": {
        "ticket_id": _match(r"^tk-\d+$"),
        "customer_id": _int,
        "created_at": _ts,
        "category": _enum("billing", "bug", "how_to", "cancellation"),
        "priority": _enum("low", "medium", "high"),
        "status": _enum("open", "closed"),
        "updated_at": _ts,
    },
    "churn_labels": {"customer_id": _int, "label_timestamp": _ts, "churned": _bool},
}


def _typed(source: str, raw: dict[str, object]) -> dict[str, object]:
    """Declared columns parsed to Python values; raises WrongType on any bad value."""
    rec = {col: TYPES[source][col](raw[col]) for col in COLUMNS[source]}
    if source == "events":
        has_product = rec["event_type"] in ("page_view", "purchase")
        if (rec["product_id"] is not None) != has_product:
            raise WrongType(rec)
        if (rec["revenue"] is not None) != (rec["event_type"] == "purchase"):
            raise WrongType(rec)
    return rec


def _lines(path: Path) -> tuple[list[str] | None, list[str]]:
    """(CSV header or None, data lines)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), path
    lines = text.split("\n")[:-1]
    if path.suffix == ".csv":
        return next(csv.reader([lines[0]])), lines[1:]
    return None, lines


def classify(source: str, header: list[str] | None, line: str) -> tuple[str, dict | None]:
    """('malformed'|'null_key'|'wrong_type'|'valid', typed record or None)."""
    if header is None:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            return "malformed", None
        if not isinstance(raw, dict) or not set(COLUMNS[source]) <= set(raw):
            return "malformed", None
    else:
        fields = next(csv.reader([line]))
        if len(fields) != len(header):
            return "malformed", None
        raw = {h: (v if v != "" else None) for h, v in zip(header, fields, strict=True)}
    if raw[KEYS[source]] in (None, ""):
        return "null_key", None
    try:
        return "valid", _typed(source, raw)
    except WrongType:
        return "wrong_type", None


def folder_day(path: Path) -> date:
    return date.fromisoformat(path.parent.name)


def record_day(source: str, rec: dict) -> date:
    """The day a record happened: labels 'happen' when their 30-day outcome is known."""
    ts: datetime = rec[TIME_COLUMN[source]]
    if source == "churn_labels":
        ts = ts + timedelta(days=30)
    return ts.date()


def data_files(root: Path, source: str) -> list[Path]:
    return sorted((root / source).glob("*/part-00000.*"))


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def valid_records(root: Path, source: str) -> Iterator[tuple[Path, dict]]:
    for path in data_files(root, source):
        header, lines = _lines(path)
        for line in lines:
            kind, rec = classify(source, header, line)
            if kind == "valid":
                yield path, rec


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    root = tmp_path_factory.mktemp("clean")
    return root, generate(root, customers=200, days=60, start=START, progress=False)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    root = tmp_path_factory.mktemp("dirty")
    report = generate(root, customers=200, days=60, start=START, dirty_fraction=0.1, progress=False)
    return root, report


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    kwargs = {
        "customers": 120,
        "days": 35,
        "start": START,
        "dirty_fraction": 0.1,
        "progress": False,
    }
    generate(tmp_path / "a", seed=11, **kwargs)
    generate(tmp_path / "b", seed=11, **kwargs)
    generate(tmp_path / "c", seed=12, **kwargs)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert len(a) > 3 * 35
    assert a == b
    assert a != c
    shared = set(a) & set(c)
    assert sum(a[k] != c[k] for k in shared if "events" in k) > 25


# --------------------------------------------------------------------------- layout
def test_layout_and_columns(clean: tuple[Path, GenerationReport]) -> None:
    root, report = clean
    assert sorted(p.name for p in root.iterdir()) == sorted([*SOURCES, PARAMS_FILE])
    assert report.first_day == START
    assert report.last_day == START + timedelta(days=59)
    written = set()
    for source in SOURCES:
        files = data_files(root, source)
        assert files, source
        assert {p.name for p in (root / source).rglob("*") if p.is_file()} == {
            f"part-00000.{EXT[source]}"
        }
        for path in files:
            assert START <= folder_day(path) <= report.last_day
            header, lines = _lines(path)
            assert lines, path  # no empty files: a day without records has no file
            if EXT[source] == "csv":
                assert tuple(header) == COLUMNS[source]
            else:
                for line in lines[:50]:
                    assert tuple(json.loads(line)) == COLUMNS[source]
            written.add(path)
    assert written == set(report.files)
    # daily sources have a file every day; labels every 14 days once the outcome is known
    assert len(data_files(root, "events")) == 60
    label_days = [folder_day(p) for p in data_files(root, "churn_labels")]
    assert label_days == [START + timedelta(days=30 + 14 * k) for k in range(1, 3)]  # not day 0
    params = json.loads((root / PARAMS_FILE).read_text())
    assert params["days"] == 60 and params["customers"] == 200 and params["start"] == "2026-01-01"


def test_default_start_ends_yesterday_utc(tmp_path: Path) -> None:
    before = datetime.now(UTC).date()
    report = generate(tmp_path, customers=30, days=4, progress=False)
    after = datetime.now(UTC).date()
    assert report.last_day in {before - timedelta(days=1), after - timedelta(days=1)}
    assert report.first_day == report.last_day - timedelta(days=3)
    assert (tmp_path / "events" / report.last_day.isoformat() / "part-00000.json").is_file()


def test_existing_customers_all_in_first_file(clean: tuple[Path, GenerationReport]) -> None:
    root, _ = clean
    first = root / "customers" / START.isoformat() / "part-00000.csv"
    with first.open() as fh:
        rows = list(csv.DictReader(fh))
    existing = {int(r["customer_id"]) for r in rows if date.fromisoformat(r["signup_date"]) < START}
    assert existing == set(range(1, 201))
    later = [(p, r) for p, r in valid_records(root, "customers") if p != first]
    assert later, "customers sign up or change plan during the window"
    assert {r["customer_id"] for _, r in later} - existing, "new signups during the window"
    for path, rec in later:
        if rec["customer_id"] not in existing:
            assert rec["signup_date"] >= START
        assert rec["updated_at"].date() == folder_day(path)


# --------------------------------------------------------------------------- next day
def test_generate_next_day_matches_a_longer_run(tmp_path: Path) -> None:
    kwargs = {"customers": 150, "start": START, "dirty_fraction": 0.1, "progress": False}
    with pytest.raises(FileNotFoundError, match="_generator.json"):
        generate_next_day(tmp_path / "nothing", progress=False)
    # day 44 is a label day (observation day 14 + 30), and dirty rows spill across days
    generate(tmp_path / "inc", days=44, **kwargs)
    before = tree(tmp_path / "inc")
    report = generate_next_day(tmp_path / "inc", progress=False)
    generate(tmp_path / "full", days=45, **kwargs)
    after, full = tree(tmp_path / "inc"), tree(tmp_path / "full")
    assert after == full
    new_day = START + timedelta(days=44)
    assert report.first_day == report.last_day == new_day
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed == {str(p.relative_to(tmp_path / "inc")) for p in report.files} | {PARAMS_FILE}
    assert {Path(k).parent.name for k in changed - {PARAMS_FILE}} == {new_day.isoformat()}
    assert {Path(k).parts[0] for k in changed - {PARAMS_FILE}} == set(SOURCES)
    assert json.loads(after[PARAMS_FILE])["days"] == 45
    generate_next_day(tmp_path / "inc", progress=False)
    generate(tmp_path / "full2", days=46, **kwargs)
    assert tree(tmp_path / "inc") == tree(tmp_path / "full2")


# --------------------------------------------------------------------------- clean data
def test_clean_files_parse_and_keys_are_unique(clean: tuple[Path, GenerationReport]) -> None:
    root, report = clean
    assert all(v == 0 for d in report.dirty_by_source.values() for v in d.values())
    for source in SOURCES:
        by_key: dict[object, list[dict]] = defaultdict(list)
        n_lines = 0
        for path in data_files(root, source):
            header, lines = _lines(path)
            times = []
            for line in lines:
                kind, rec = classify(source, header, line)
                assert kind == "valid", (path, line)
                assert record_day(source, rec) == folder_day(path), (path, line)
                times.append(rec[TIME_COLUMN[source]])
                key = rec[KEYS[source]]
                if source == "churn_labels":
                    key = (key, rec["label_timestamp"])
                by_key[key].append(rec)
            assert times == sorted(times), path
            n_lines += len(lines)
        assert n_lines == report.records[source] > 0
        updated = 0
        for key, recs in by_key.items():
            if len(recs) == 1:
                continue
            # the only legitimate repeats are later update rows of the same entity
            assert source in ("customers", "orders", "tickets"), (source, key)
            stamps = [r["updated_at"] for r in recs]
            assert len(set(stamps)) == len(stamps), (source, key)
            first, *rest = sorted(recs, key=lambda r: r["updated_at"])
            for r in rest:
                updated += 1
                if source == "customers":
                    assert r["plan_tier"] != first["plan_tier"]
                    assert r["signup_date"] == first["signup_date"]
                elif source == "orders":
                    assert len(recs) == 2 and first["status"] == "placed"
                    assert r["status"] in ("shipped", "cancelled")
                    assert (r["order_ts"], r["amount"]) == (first["order_ts"], first["amount"])
                else:
                    assert len(recs) == 2 and (first["status"], r["status"]) == ("open", "closed")
                    assert r["created_at"] == first["created_at"]
        if source in ("orders", "tickets"):
            assert updated > 0.5 * len(by_key), source


def test_orders_mirror_purchase_events(clean: tuple[Path, GenerationReport]) -> None:
    root, _ = clean
    purchases = Counter(
        (r["customer_id"], r["event_ts"], r["revenue"])
        for _, r in valid_records(root, "events")
        if r["event_type"] == "purchase"
    )
    placed = Counter(
        (r["customer_id"], r["order_ts"], r["amount"])
        for _, r in valid_records(root, "orders")
        if r["status"] == "placed"
    )
    assert placed == purchases and sum(placed.values()) > 100


# --------------------------------------------------------------------------- dirty data
def test_dirty_counts_match_what_is_on_disk(dirty: tuple[Path, GenerationReport]) -> None:
    root, report = dirty
    totals = Counter()
    for source in SOURCES:
        found = Counter()
        seen: set[tuple] = set()
        n_lines = 0
        shuffled, extra = [], []
        for path in data_files(root, source):
            header, lines = _lines(path)
            n_lines += len(lines)
            if header is not None and header != list(COLUMNS[source]):
                assert header == [*COLUMNS[source], EXTRA[source]]
                extra.append(path)
            elif header is None and any(EXTRA.get(source, "-") in json.loads(x) for x in lines[:5]):
                extra.append(path)
            times = []
            for line in lines:
                kind, rec = classify(source, header, line)
                if kind != "valid":
                    found[kind] += 1
                    continue
                times.append(rec[TIME_COLUMN[source]])
                ident = tuple(rec[c] for c in COLUMNS[source])
                if ident in seen:
                    found["duplicate"] += 1
                    continue
                seen.add(ident)
                happened = record_day(source, rec)
                assert happened <= folder_day(path), (path, line)
                if happened < folder_day(path):
                    assert (folder_day(path) - happened).days <= 3
                    found["late"] += 1
            if times != sorted(times):
                shuffled.append(path)
        assert n_lines == report.records[source]
        expected = report.dirty_by_source[source]
        assert {k: found[k] for k in LINE_KINDS} == {k: expected[k] for k in LINE_KINDS}, source
        assert shuffled == [p for p in report.dirty_files["out_of_order"] if source in p.parts]
        assert len(shuffled) == expected["out_of_order"]
        assert extra == [p for p in report.dirty_files["extra_column"] if source in p.parts]
        assert len(extra) == expected["extra_column"] == (1 if source in EXTRA else 0)
        totals.update(found)
        # roughly dirty_fraction of the records are dirty, and every line is accounted for
        assert 0.05 < sum(found.values()) / n_lines < 0.16, source
        assert report.clean_records(source) == len(seen)
    assert all(totals[k] > 0 for k in LINE_KINDS)
    assert report.dirty["out_of_order"] > 0


def test_dirty_run_shares_records_with_clean_run(
    clean: tuple[Path, GenerationReport], dirty: tuple[Path, GenerationReport]
) -> None:
    """Dirt replaces or copies clean records; it never changes the underlying simulation."""
    for source in ("orders", "tickets"):
        clean_set = {tuple(r.values()) for _, r in valid_records(clean[0], source)}
        dirty_set = {tuple(r.values()) for _, r in valid_records(dirty[0], source)}
        assert dirty_set <= clean_set
        assert len(dirty_set) > 0.8 * len(clean_set)


# --------------------------------------------------------------------------- labels & signal
def test_labels_land_only_when_outcome_known(
    clean: tuple[Path, GenerationReport], dirty: tuple[Path, GenerationReport]
) -> None:
    for root, report in (clean, dirty):
        n = 0
        for path, rec in valid_records(root, "churn_labels"):
            known = rec["label_timestamp"].date() + timedelta(days=30)
            assert folder_day(path) >= known
            assert known <= report.last_day
            assert rec["label_timestamp"].time() == datetime.min.time()
            assert (rec["label_timestamp"].date() - START).days % 14 == 0
            n += 1
        assert n > 300


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signal")
    generate(root, customers=500, days=160, start=START, seed=3, progress=False)
    return root


def test_churners_fade_out_and_non_churners_do_not(signal_run: Path) -> None:
    daily: dict[int, Counter] = defaultdict(Counter)
    for path in data_files(signal_run, "events"):
        day = (folder_day(path) - START).days
        for line in _lines(path)[1]:
            daily[json.loads(line)["customer_id"]][day] += 1
    signup = {r["customer_id"]: r["signup_date"] for _, r in valid_records(signal_run, "customers")}
    labels = [r for _, r in valid_records(signal_run, "churn_labels")]
    assert 0.12 < sum(r["churned"] for r in labels) / len(labels) < 0.32

    recent: dict[bool, list[float]] = {True: [], False: []}
    prior: dict[bool, list[float]] = {True: [], False: []}
    for r in labels:
        obs = (r["label_timestamp"].date() - START).days
        counts = daily[r["customer_id"]]
        if r["churned"]:  # churn happens within 30 days, after that the customer is silent
            assert not any(counts[d] for d in range(obs + 30, 160))
        # compare like with like: customers with 90 days of history before the label
        if obs < 90 or signup[r["customer_id"]] > START + timedelta(days=obs - 90):
            continue
        recent[r["churned"]].append(sum(counts[d] for d in range(obs - 30, obs)) / 30)
        prior[r["churned"]].append(sum(counts[d] for d in range(obs - 90, obs - 30)) / 60)
    assert len(recent[True]) >= 80 and len(recent[False]) >= 400

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    churn_ratio = mean(recent[True]) / mean(prior[True])
    stay_ratio = mean(recent[False]) / mean(prior[False])
    assert churn_ratio < 0.8, churn_ratio
    assert 0.9 < stay_ratio < 1.1, stay_ratio


def test_drift_shifts_behaviour(tmp_path: Path) -> None:
    drift = START + timedelta(days=21)
    generate(tmp_path, customers=400, days=42, start=START, drift_from=drift, progress=False)
    sessions = {}
    for path in data_files(tmp_path, "events"):
        n = sum('"session_start"' in line for line in _lines(path)[1])
        sessions[folder_day(path) >= drift] = sessions.get(folder_day(path) >= drift, 0) + n
    assert sessions[True] > 1.3 * sessions[False]
    signups = [r for _, r in valid_records(tmp_path, "customers") if r["signup_date"] >= drift]
    assert signups
    share = sum(r["country"] in ("IN", "BR") for r in signups) / len(signups)
    assert share > 0.4
