"""Deterministic synthetic landing data for the churn domain.

The lakehouse needs realistic raw input that (a) is reproducible byte for byte, so that tests and
benchmarks can compare runs, (b) carries a churn signal a model can learn, so that the ML layer
has something real to find, and (c) can be made dirty in known, counted ways, so that the
bronze/silver layers can prove they neither lose nor invent lines.

Layout: ``landing_dir/<source>/<YYYY-MM-DD>/part-00000.<csv|json>`` plus
``landing_dir/_generator.json`` (the parameters, used by :func:`generate_next_day`).

How the world works (all vectorised with numpy, one loop iteration per day):

* ``customers`` customers exist before the first day (all in the first day's customers file, their
  ``signup_date`` up to two years earlier). New customers sign up every day at a Poisson rate of
  0.5% of ``customers``, so the active base stays roughly stable while others churn.
* Every customer has a plan (basic 60%, pro 30%, enterprise 10%), a country, a tenant, a base
  session rate (lognormal, ~0.3-3 sessions/day), a purchase propensity and a latent
  dissatisfaction. The churn hazard depends on the plan (basic highest) and the dissatisfaction,
  which also raises the support-ticket rate.
* In the 45 days before their churn day a customer's activity falls linearly to zero and their
  ticket rate rises (skewed to ``cancellation``/``billing``); from the churn day on they emit
  nothing. Everyone else is stationary (Poisson noise, a mild weekend dip).
* Each session is ``session_start``, sometimes ``login``, 1-8 ``page_view`` and sometimes a
  ``purchase``; each purchase is also an order. Orders are later re-emitted as ``shipped`` or
  ``cancelled``, tickets as ``closed``; some customers later change plan (a new customers row).
* Churn labels are observed every 14 days from the first day, the first day itself excepted
  (no feature snapshot precedes it), for every customer active at that midnight: ``churned`` =
  the customer churns within the next 30 days. A label is only known 30
  days later, so it lands in the folder of ``label_timestamp + 30 days``.

Every day is a pure function of the parameters and the day index (random streams are keyed by
seed, stream and day, never by the window length), which is what lets ``generate_next_day``
append exactly the day that ``generate(days + 1)`` would have written.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from rich.progress import Progress

from lakehouse_ml.ingest.layout import landed_batches

__all__ = [
    "COLUMNS",
    "DIRTY_KINDS",
    "DayNotStarted",
    "FILE_KINDS",
    "FORMATS",
    "GenerationReport",
    "LABEL_HORIZON_DAYS",
    "LABEL_INTERVAL_DAYS",
    "LINE_KINDS",
    "MIN_LABEL_TIMES",
    "MIN_TRAINABLE_DAYS",
    "PARAMS_FILE",
    "SOURCES",
    "OptionError",
    "generate",
    "generate_next_day",
    "require_trainable",
]

PARAMS_FILE = "_generator.json"
GENERATOR_VERSION = 1

SOURCES: tuple[str, ...] = ("customers", "orders", "events", "tickets", "churn_labels")
FORMATS: dict[str, str] = {
    "customers": "csv",
    "orders": "json",
    "events": "json",
    "tickets": "csv",
    "churn_labels": "json",
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "customer_id",
        "email",
        "country",
        "plan_tier",
        "tenant_id",
        "signup_date",
        "updated_at",
    ),
    "orders": (
        "order_id",
        "customer_id",
        "order_ts",
        "amount",
        "status",
        "product_id",
        "updated_at",
    ),
    "events": (
        "event_id",
        "customer_id",
        "event_ts",
        "event_type",
        "session_id",
        "product_id",
        "revenue",
    ),
    "tickets": (
        "ticket_id",
        "customer_id",
        "created_at",
        "category",
        "priority",
        "status",
        "updated_at",
    ),
    "churn_labels": ("customer_id", "label_timestamp", "churned"),
}
#: Dirty kinds counted per line; they are mutually exclusive, one per written line.
LINE_KINDS: tuple[str, ...] = ("malformed", "wrong_type", "null_key", "duplicate", "late")
#: Dirty kinds counted per file (a file is shuffled, or carries one extra column).
FILE_KINDS: tuple[str, ...] = ("out_of_order", "extra_column")
DIRTY_KINDS: tuple[str, ...] = LINE_KINDS + FILE_KINDS
#: The extra column planted in exactly one file of a source when dirty_fraction > 0.
EXTRA_COLUMNS: dict[str, str] = {"customers": "referral_code", "events": "app_version"}

LABEL_INTERVAL_DAYS = 14
LABEL_HORIZON_DAYS = 30
FIRST_LABEL_DAY = 1
"""Labels are observed from this day on: the first feature snapshot is stamped day 1 00:00 (it
sees day 0), so a label observed at day 0 would find no feature row."""
MIN_LABEL_TIMES = 2
"""Training fits on the earlier label times and validates on the later ones
(`lakehouse_ml.ml.train.time_split`), so a trainable demo holds labels of two times at least."""


def _observed(day: int) -> bool:
    """Whether churn labels are observed at midnight of day index `day`."""
    return day >= FIRST_LABEL_DAY and day % LABEL_INTERVAL_DAYS == 0


def _min_trainable_days() -> int:
    """The fewest days whose landing holds labels of `MIN_LABEL_TIMES` times: a label observed
    on day index d lands on day d + LABEL_HORIZON_DAYS, the window's last day is days - 1."""
    # any MIN_LABEL_TIMES intervals from FIRST_LABEL_DAY hold MIN_LABEL_TIMES observation days
    span = range(FIRST_LABEL_DAY, FIRST_LABEL_DAY + MIN_LABEL_TIMES * LABEL_INTERVAL_DAYS)
    observed = [d for d in span if _observed(d)][:MIN_LABEL_TIMES]
    return observed[-1] + LABEL_HORIZON_DAYS + 1


MIN_TRAINABLE_DAYS = _min_trainable_days()
"""The shortest window the churn model can be trained on (59 days with the constants above)."""

COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR")
COUNTRY_MIX = (0.35, 0.15, 0.15, 0.10, 0.15, 0.10)
COUNTRY_MIX_DRIFT = (0.20, 0.08, 0.07, 0.05, 0.35, 0.25)
PLANS = ("basic", "pro", "enterprise")
PLAN_MIX = (0.6, 0.3, 0.1)
PLAN_HAZARD = (0.013, 0.0075, 0.003)  # per day, before the dissatisfaction factor
TENANT_MIX = (0.2, 0.15, 0.12, 0.1, 0.1, 0.09, 0.08, 0.06, 0.05, 0.05)
EVENT_TYPES = ("session_start", "page_view", "login", "purchase")
TICKET_CATEGORIES = ("billing", "bug", "how_to", "cancellation")
TICKET_MIX = (0.25, 0.35, 0.35, 0.05)
TICKET_MIX_CHURNING = (0.35, 0.15, 0.10, 0.40)
PRIORITIES = ("low", "medium", "high")
N_PRODUCTS = 200

DAY_S = 86_400
DECLINE_DAYS = 45
SIGNUP_RATE = 0.005  # new signups per day, as a fraction of `customers`
ORDER_UPDATE_MAX_LAG = 3
TICKET_CLOSE_MAX_LAG = 5
LATE_MAX_LAG = 3
# Days to replay before the day generate_next_day writes: every row landing in that day
# originates at most this many days earlier (update lag, then late-arrival lag).
LOOKBACK_DAYS = max(ORDER_UPDATE_MAX_LAG, TICKET_CLOSE_MAX_LAG) + LATE_MAX_LAG
DRIFT_SESSIONS = 1.6
DRIFT_REVENUE = 1.3

_TS_FMT = "%Y-%m-%dT%H:%M:%SZ"
_KEYS = {
    "customers": "customer_id",
    "orders": "order_id",
    "events": "event_id",
    "tickets": "ticket_id",
    "churn_labels": "customer_id",
}
# Columns that get an unparseable value for `wrong_type` lines, with the bad value.
_BAD_INT = "x"  # prefixed to the id: "x123"
_WRONG_TYPE_TARGETS: dict[str, tuple[tuple[str, str], ...]] = {
    "customers": (
        ("customer_id", _BAD_INT),
        ("signup_date", "not-a-date"),
        ("updated_at", "not-a-date"),
    ),
    "orders": (("amount", "abc"), ("customer_id", _BAD_INT), ("order_ts", "not-a-date")),
    "events": (("customer_id", _BAD_INT), ("event_ts", "not-a-date")),
    "tickets": (("customer_id", _BAD_INT), ("created_at", "not-a-date")),
    "churn_labels": (
        ("churned", "yes"),
        ("customer_id", _BAD_INT),
        ("label_timestamp", "not-a-date"),
    ),
}
# Per clean record: probability split of the dirty kinds (duplicates in the same file or next).
_DIRTY_SPLIT = (
    ("malformed", 0.2),
    ("wrong_type", 0.2),
    ("null_key", 0.15),
    ("dup_same", 0.15),
    ("dup_next", 0.1),
    ("late", 0.2),
)
_STREAMS = {
    "customers0": 1,
    "signups": 2,
    "events": 3,
    "tickets": 4,
    "orders": 5,
    "customer_rows": 6,
    "dirty": 7,
    "shuffle": 8,
}

_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "customers": {
        "customer_id": pl.Int64(),
        "email": pl.String(),
        "country": pl.String(),
        "plan_tier": pl.String(),
        "tenant_id": pl.String(),
        "signup_date": pl.String(),
        "updated_at": pl.String(),
        "_t": pl.Int64(),
    },
    "orders": {
        "order_id": pl.String(),
        "customer_id": pl.Int64(),
        "order_ts": pl.String(),
        "amount": pl.Float64(),
        "status": pl.String(),
        "product_id": pl.String(),
        "updated_at": pl.String(),
        "_t": pl.Int64(),
    },
    "events": {
        "event_id": pl.String(),
        "customer_id": pl.Int64(),
        "event_ts": pl.String(),
        "event_type": pl.String(),
        "session_id": pl.String(),
        "product_id": pl.String(),
        "revenue": pl.Float64(),
        "_t": pl.Int64(),
    },
    "tickets": {
        "ticket_id": pl.String(),
        "customer_id": pl.Int64(),
        "created_at": pl.String(),
        "category": pl.String(),
        "priority": pl.String(),
        "status": pl.String(),
        "updated_at": pl.String(),
        "_t": pl.Int64(),
    },
    "churn_labels": {
        "customer_id": pl.Int64(),
        "label_timestamp": pl.String(),
        "churned": pl.Boolean(),
        "_t": pl.Int64(),
    },
}


class OptionError(ValueError):
    """An option of `generate` that cannot work; `option` is the parameter's name, `reason`
    says why (the message is both)."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option} {reason}")
        self.option, self.reason = option, reason


class DayNotStarted(RuntimeError):
    """`generate_next_day` was asked for a day that starts after today (UTC): landed now, its
    rows would be in the future, and silver quarantines event times more than a day after
    their ingestion. The message names the day and when it can be generated."""


def require_trainable(days: int) -> None:
    """Raise OptionError for `days` unless a window that long can train the churn model."""
    if days < MIN_TRAINABLE_DAYS:
        raise OptionError("days", (
            f"{days} is too short to train on: the model needs churn labels of "
            f"{MIN_LABEL_TIMES} times, and those of the last are known only on day "
            f"{MIN_TRAINABLE_DAYS} (labels are observed every {LABEL_INTERVAL_DAYS} days and "
            f"known {LABEL_HORIZON_DAYS} days later); use at least {MIN_TRAINABLE_DAYS} days"))


def _check_options(
    customers: int, days: int, start: date, dirty_fraction: float, drift_from: date | None
) -> None:
    """OptionError naming the first option of `generate` that cannot work."""
    if customers < 1:
        raise OptionError("customers", f"must be at least 1 (got {customers})")
    if days < 1:
        raise OptionError("days", f"must be at least 1 (got {days})")
    if not 0.0 <= dirty_fraction <= 1.0:  # NaN included
        raise OptionError("dirty_fraction", f"must be between 0 and 1 (got {dirty_fraction})")
    last = start + timedelta(days=days - 1)
    if drift_from is not None and not start <= drift_from <= last:
        raise OptionError("drift_from", f"{drift_from} is outside the generated days "
                                        f"{start} .. {last}")


@dataclass(frozen=True)
class GenerationReport:
    """What a run landed, so downstream layers can reconcile every line they read.

    ``files`` lists the data files written (not ``_generator.json``), in day then source order.

    ``records[source]`` counts every data line written (CSV headers excluded), dirty ones
    included. ``dirty_by_source[source][kind]`` counts lines for the line kinds (mutually
    exclusive) and files for ``out_of_order``/``extra_column``. Lines that are valid records:
    ``records - malformed - wrong_type - null_key``; distinct valid records additionally
    exclude ``duplicate`` (``late`` lines are valid, just in a later folder).
    """

    first_day: date
    last_day: date
    files: list[Path]
    records: dict[str, int]
    dirty_by_source: dict[str, dict[str, int]]
    dirty_files: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def dirty(self) -> dict[str, int]:
        """Totals per dirty kind over all sources."""
        return {k: sum(d[k] for d in self.dirty_by_source.values()) for k in DIRTY_KINDS}

    def clean_records(self, source: str) -> int:
        """Distinct valid records of a source: what a perfect bronze->silver step keeps."""
        d = self.dirty_by_source[source]
        bad = d["malformed"] + d["wrong_type"] + d["null_key"] + d["duplicate"]
        return self.records[source] - bad


@dataclass
class _Corrupt:
    """Rows of one day and source that are written as broken lines."""

    malformed: pl.DataFrame | None = None
    wrong_type: list[pl.DataFrame | None] = field(default_factory=list)  # per target column
    null_key: pl.DataFrame | None = None


@dataclass(frozen=True)
class _Params:
    start: date
    days: int
    customers: int
    seed: int
    dirty_fraction: float
    drift_from: date | None

    def to_json(self) -> str:
        doc = {
            "generator_version": GENERATOR_VERSION,
            "start": self.start.isoformat(),
            "days": self.days,
            "customers": self.customers,
            "seed": self.seed,
            "dirty_fraction": self.dirty_fraction,
            "drift_from": self.drift_from.isoformat() if self.drift_from else None,
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> _Params:
        doc = json.loads(text)
        if doc.get("generator_version") != GENERATOR_VERSION:
            raise ValueError(
                f"{PARAMS_FILE} was written by generator version {doc.get('generator_version')},"
                f" this is version {GENERATOR_VERSION}; regenerate the landing zone"
            )
        return cls(
            start=date.fromisoformat(doc["start"]),
            days=int(doc["days"]),
            customers=int(doc["customers"]),
            seed=int(doc["seed"]),
            dirty_fraction=float(doc["dirty_fraction"]),
            drift_from=date.fromisoformat(doc["drift_from"]) if doc["drift_from"] else None,
        )


def generate(
    landing_dir: Path,
    customers: int,
    days: int,
    start: date | None = None,
    seed: int = 7,
    dirty_fraction: float = 0.0,
    drift_from: date | None = None,
    progress: bool = True,
) -> GenerationReport:
    """Write ``days`` days of churn-domain landing files into ``landing_dir``.

    ``customers`` is the size of the customer base before the first day (new signups add ~0.5%
    of it per day). ``start`` defaults to ``today (UTC) - days`` so the history ends yesterday.
    The same arguments always give byte-identical files.

    ``dirty_fraction`` f: about f of each source's records are made dirty (malformed,
    wrong_type, null_key, duplicate, late lines), about 2f of the files are shuffled
    (out_of_order), and the first day's customers and events files carry one extra column.
    Everything is counted in the returned report.

    ``drift_from``: from that date on behaviour shifts, to give drift monitors something to
    detect: sessions per day x1.6, purchase revenue x1.3, and customers signing up from then on
    come mostly from IN and BR instead of mostly US.

    Files of the window are overwritten; other files in ``landing_dir`` are left alone.

    Raises OptionError (a ValueError naming the parameter) before writing anything for
    ``customers`` or ``days`` below 1, ``dirty_fraction`` outside [0, 1], or ``drift_from``
    outside the generated days. Fewer than ``MIN_TRAINABLE_DAYS`` days are allowed here (e.g.
    for ingestion tests) but hold too few labels to train on: see `require_trainable`.
    """
    if start is None:
        start = datetime.now(UTC).date() - timedelta(days=days)
    _check_options(customers, days, start, dirty_fraction, drift_from)
    params = _Params(start, days, customers, seed, float(dirty_fraction), drift_from)
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    world = _World(params, landing_dir)
    with _progress(progress, days, "generating churn landing data") as advance:
        for d in range(days):
            world.step(d, write=True)
            advance()
    (landing_dir / PARAMS_FILE).write_text(params.to_json())
    return world.report(0, days - 1)


def generate_next_day(landing_dir: Path, progress: bool = True) -> GenerationReport:
    """Append the day after the last generated one, as ``generate(days + 1)`` would write it,
    for every source of the demo: the day after the last landed demo day, any day up to
    today (UTC), never a day that has not started yet.

    Lets a scheduled job simulate a live feed one day at a time. The few preceding days whose
    updates, late and duplicated rows spill into the new day are recomputed in memory (not
    rewritten); then ``_generator.json`` is updated to the new day count.

    Raises FileNotFoundError when ``landing_dir`` holds no demo data yet (no
    ``_generator.json`` or no ``<source>/<YYYY-MM-DD>/`` folder of a demo source),
    FileExistsError when demo files are already landed on or after the new day (written by
    another ``generate`` call): a landed day is never overwritten, and DayNotStarted when the
    new day is after today (UTC); nothing is written then.
    """
    landing_dir = Path(landing_dir)
    params_path = landing_dir / PARAMS_FILE
    landed = [date.fromisoformat(day) for source in SOURCES
              for day in landed_batches(str(landing_dir), source)]
    if not params_path.is_file() or not landed:
        raise FileNotFoundError(
            f"landing zone {landing_dir} has no demo data yet (no {PARAMS_FILE} or no "
            f"<source>/<YYYY-MM-DD>/ folder of {', '.join(SOURCES)}): generate the demo first, "
            "the next day continues it"
        )
    params = _Params.from_json(params_path.read_text())
    new_day = params.days
    day = params.start + timedelta(days=new_day)
    if max(landed) >= day:
        raise FileExistsError(
            f"landing zone {landing_dir} already holds demo files of {max(landed)}, on or after "
            f"the next day {day} of its {PARAMS_FILE} (another generate call wrote them): "
            "regenerate the landing zone"
        )
    today = datetime.now(UTC).date()
    if day > today:
        raise DayNotStarted(
            f"the next demo day {day} has not started yet (today is {today}, UTC): it can be "
            f"generated from {day} 00:00 UTC on (landed now, its rows would be in the future, "
            "and silver quarantines event times more than a day after their ingestion)")
    world = _World(params, landing_dir)
    replay = range(max(0, new_day - LOOKBACK_DAYS), new_day + 1)
    with _progress(progress, len(replay), "generating next churn day") as advance:
        for d in replay:
            world.step(d, write=d == new_day)
            advance()
    params_path.write_text(replace(params, days=params.days + 1).to_json())
    return world.report(new_day, new_day)


@contextmanager
def _progress(enabled: bool, total: int, description: str) -> Iterator[Callable[[], None]]:
    """A rich progress bar over days that can be switched off (tests, non-TTY jobs)."""
    with Progress(disable=not enabled) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def _cum(p: tuple[float, ...]) -> np.ndarray:
    c = np.cumsum(np.asarray(p, dtype=np.float64))
    c[-1] = 1.0
    return c


def _pick(rng: np.random.Generator, probs: tuple[float, ...], n: int) -> np.ndarray:
    """Categorical draws as int8 codes (faster than rng.choice for big n)."""
    return np.searchsorted(_cum(probs), rng.random(n), side="right").astype(np.int8)


def _labels_of(names: tuple[str, ...], codes: np.ndarray) -> pl.Series:
    return pl.Series(names, dtype=pl.String).gather(codes.astype(np.int64))


def _ts(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="s").dt.strftime(_TS_FMT)


def _ids(prefix: str, day: int, n: int, width: int) -> pl.Series:
    """Day-prefixed ids: unique across days without carrying a counter between runs."""
    if n >= 10**width:
        raise OverflowError(f"more than {10**width} {prefix} ids in one day")
    nums = pl.Series(np.arange(n, dtype=np.int64) + day * 10**width)
    return (prefix + nums.cast(pl.String).str.zfill(4 + width)).rename("id")


def _empty(source: str) -> pl.DataFrame:
    return pl.DataFrame(schema=_SCHEMAS[source])


class _World:
    """The simulated business plus the rows in flight between days."""

    def __init__(self, params: _Params, landing_dir: Path) -> None:
        self.p = params
        self.landing_dir = landing_dir
        self.epoch0 = int(
            datetime(
                params.start.year, params.start.month, params.start.day, tzinfo=UTC
            ).timestamp()
        )
        self.drift_off = (params.drift_from - params.start).days if params.drift_from else None
        self.c: dict[str, np.ndarray] = {}
        self._signups_done = -1
        self._init_customers()
        # target day -> source -> frames (order/ticket updates scheduled for that day)
        self._updates: dict[int, dict[str, list[pl.DataFrame]]] = defaultdict(
            lambda: defaultdict(list)
        )
        # target day -> source -> (kind, frame) (late and next-day duplicate lines)
        self._arrivals: dict[int, dict[str, list[tuple[str, pl.DataFrame]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.files: list[Path] = []
        self.records = dict.fromkeys(SOURCES, 0)
        self.dirty = {s: dict.fromkeys(DIRTY_KINDS, 0) for s in SOURCES}
        self.dirty_files: dict[str, list[Path]] = {k: [] for k in FILE_KINDS}

    # ----------------------------------------------------------------- randomness
    def _rng(self, stream: str, day: int, sub: int = 0) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.p.seed, _STREAMS[stream], day, sub])
        )

    def _drifted(self, day: int | np.ndarray) -> bool | np.ndarray:
        if self.drift_off is None:
            return np.zeros_like(day, dtype=bool) if isinstance(day, np.ndarray) else False
        return day >= self.drift_off

    # ----------------------------------------------------------------- customers
    def _draw(self, rng: np.random.Generator, signup_off: np.ndarray) -> dict[str, np.ndarray]:
        n = len(signup_off)
        drifted = np.asarray(self._drifted(signup_off), dtype=bool)
        plan = _pick(rng, PLAN_MIX, n)
        u = rng.random(n)
        country = np.where(
            drifted,
            np.searchsorted(_cum(COUNTRY_MIX_DRIFT), u, side="right"),
            np.searchsorted(_cum(COUNTRY_MIX), u, side="right"),
        ).astype(np.int8)
        tenant = _pick(rng, TENANT_MIX, n)
        dissat = rng.standard_normal(n)
        base_rate = np.clip(rng.lognormal(math.log(0.75), 0.55, n), 0.3, 3.0)
        purchase_p = rng.beta(2.0, 14.0, n)
        hazard = np.asarray(PLAN_HAZARD)[plan] * np.exp(0.6 * dissat - 0.18)
        life = np.floor(rng.exponential(1.0 / hazard)).astype(np.int64) + 1
        origin = np.maximum(signup_off, 0)
        plan_change = origin + 1 + np.floor(rng.exponential(400.0, n)).astype(np.int64)
        new_plan = ((plan + rng.integers(1, 3, n)) % 3).astype(np.int8)
        return {
            "signup_off": signup_off.astype(np.int64),
            "signup_sec": rng.integers(0, DAY_S, n),
            "plan": plan,
            "country": country,
            "tenant": tenant,
            "base_rate": base_rate,
            "purchase_p": purchase_p,
            "ticket_rate": 0.008 * np.exp(0.4 * dissat),
            "churn_off": origin + life,
            "plan_change_off": plan_change,
            "new_plan": new_plan,
        }

    def _init_customers(self) -> None:
        rng = self._rng("customers0", 0)
        n = self.p.customers
        signup_off = -rng.integers(1, 731, n)
        self.c = self._draw(rng, signup_off)
        self.c["customer_id"] = np.arange(1, n + 1, dtype=np.int64)

    def _ensure_signups(self, day: int) -> None:
        """Signups are drawn day by day from the first day, so they never depend on `days`."""
        if day <= self._signups_done:
            return
        chunks: list[dict[str, np.ndarray]] = []
        next_id = int(self.c["customer_id"][-1]) + 1
        for d in range(self._signups_done + 1, day + 1):
            rng = self._rng("signups", d)
            k = int(rng.poisson(self.p.customers * SIGNUP_RATE))
            if k:
                chunk = self._draw(rng, np.full(k, d, dtype=np.int64))
                chunk["customer_id"] = np.arange(next_id, next_id + k, dtype=np.int64)
                next_id += k
                chunks.append(chunk)
        if chunks:
            self.c = {
                key: np.concatenate([self.c[key]] + [ch[key] for ch in chunks]) for key in self.c
            }
        self._signups_done = day

    # ----------------------------------------------------------------- one day
    def step(self, day: int, write: bool) -> None:
        self._ensure_signups(day)
        now = self._simulate(day)
        updates = self._updates.pop(day, {})
        arrivals = self._arrivals.pop(day, {})
        for source in SOURCES:
            parts = [now[source], *updates.get(source, [])]
            clean = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
            kept, same_dups, corrupt = self._make_dirty(source, day, clean)
            if write:
                self._write(source, day, kept, same_dups, arrivals.get(source, []), corrupt)

    def _simulate(self, day: int) -> dict[str, pl.DataFrame]:
        events, orders = self._events_and_orders(day)
        return {
            "customers": self._customer_rows(day),
            "orders": orders,
            "events": events,
            "tickets": self._tickets(day),
            "churn_labels": self._labels(day),
        }

    def _active(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Active customers and their activity multiplier (1, falling to 0 before churn)."""
        c = self.c
        idx = np.flatnonzero((c["signup_off"] <= day) & (c["churn_off"] > day))
        mult = np.clip((c["churn_off"][idx] - day) / DECLINE_DAYS, 0.0, 1.0)
        return idx, mult

    def _events_and_orders(self, day: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        c = self.c
        rng = self._rng("events", day)
        idx, mult = self._active(day)
        weekday = (self.p.start + timedelta(days=day)).weekday()
        factor = (0.85 if weekday >= 5 else 1.0) * (DRIFT_SESSIONS if self._drifted(day) else 1.0)
        n_sess = rng.poisson(c["base_rate"][idx] * mult * factor)
        sess_cust = np.repeat(idx, n_sess)
        s = len(sess_cust)
        lo = np.where(c["signup_off"][sess_cust] == day, c["signup_sec"][sess_cust], 0)
        start = lo + np.floor(rng.random(s) * (DAY_S - lo)).astype(np.int64)
        n_pv = 1 + rng.binomial(7, 0.3, s)
        login = rng.random(s) < 0.35
        purchase = rng.random(s) < c["purchase_p"][sess_cust]
        n_ev = 1 + login + n_pv + purchase
        total = int(n_ev.sum())
        ev_sess = np.repeat(np.arange(s), n_ev)
        first = np.cumsum(n_ev) - n_ev
        pos = np.arange(total) - first[ev_sess]
        etype = np.full(total, 1, dtype=np.int8)  # page_view
        etype[pos == 0] = 0
        etype[(pos == 1) & login[ev_sess]] = 2
        etype[(pos == n_ev[ev_sess] - 1) & purchase[ev_sess]] = 3
        gaps = rng.integers(5, 180, total)
        gaps[first] = 0
        cum = np.cumsum(gaps)
        secs = np.minimum(start[ev_sess] + cum - cum[first][ev_sess], DAY_S - 1)
        weights = 1.0 / np.arange(1, N_PRODUCTS + 1) ** 0.8
        product = np.searchsorted(
            np.cumsum(weights) / weights.sum(), rng.random(total), side="right"
        ).clip(0, N_PRODUCTS - 1)
        revenue = np.round(
            np.maximum(rng.lognormal(math.log(40.0), 0.6, total), 1.0)
            * (DRIFT_REVENUE if self._drifted(day) else 1.0),
            2,
        )

        order = np.argsort(secs, kind="stable")
        ev_sess, etype, secs = ev_sess[order], etype[order], secs[order]
        product, revenue = product[order], revenue[order]
        has_product = (etype == 1) | (etype == 3)
        is_purchase = etype == 3
        events = pl.DataFrame(
            {
                "event_id": _ids("e-", day, total, 8),
                "customer_id": c["customer_id"][sess_cust][ev_sess],
                "_t": secs + (self.epoch0 + day * DAY_S),
                "event_type": _labels_of(EVENT_TYPES, etype),
                "session_id": _ids("s-", day, s, 7).gather(ev_sess),
                "_product": product,
                "_has_product": has_product,
                "revenue": np.where(is_purchase, revenue, np.nan),
                "_purchase": is_purchase,
            }
        ).with_columns(
            _ts("_t").alias("event_ts"),
            pl.when(pl.col("_has_product"))
            .then("p-" + pl.col("_product").cast(pl.String).str.zfill(3))
            .alias("product_id"),
            pl.when(pl.col("_purchase")).then(pl.col("revenue")).alias("revenue"),
        )
        purchases = events.filter(pl.col("_purchase"))
        events = events.select(list(_SCHEMAS["events"]))
        orders = purchases.select(
            _ids("o-", day, purchases.height, 6).alias("order_id"),
            "customer_id",
            pl.col("event_ts").alias("order_ts"),
            pl.col("revenue").alias("amount"),
            pl.lit("placed").alias("status"),
            "product_id",
            pl.col("event_ts").alias("updated_at"),
            "_t",
        )
        self._schedule_order_updates(day, orders)
        return events, orders

    def _schedule_order_updates(self, day: int, orders: pl.DataFrame) -> None:
        rng = self._rng("orders", day)
        n = orders.height
        u = rng.random(n)
        lag_ship = rng.integers(1, ORDER_UPDATE_MAX_LAG + 1, n)
        lag_cancel = rng.integers(1, 3, n)
        sec = rng.integers(0, DAY_S, n)
        status = np.where(u < 0.85, "shipped", "cancelled")
        lag = np.where(u < 0.85, lag_ship, np.where(u < 0.92, lag_cancel, 0))
        t = (day + lag) * DAY_S + self.epoch0 + sec
        upd = orders.with_columns(
            pl.Series("status", status), pl.Series("_t", t), pl.Series("_lag", lag)
        ).with_columns(_ts("_t").alias("updated_at"))
        for k in range(1, ORDER_UPDATE_MAX_LAG + 1):
            part = upd.filter(pl.col("_lag") == k).drop("_lag")
            if part.height:
                self._updates[day + k]["orders"].append(part)

    def _tickets(self, day: int) -> pl.DataFrame:
        c = self.c
        rng = self._rng("tickets", day)
        idx, mult = self._active(day)
        churning = 1.0 - mult
        n_t = rng.poisson(c["ticket_rate"][idx] * (1.0 + 6.0 * churning))
        who = np.repeat(np.arange(len(idx)), n_t)
        n = len(who)
        cust = idx[who]
        w = churning[who]
        probs = (1.0 - w)[:, None] * np.asarray(TICKET_MIX) + w[:, None] * np.asarray(
            TICKET_MIX_CHURNING
        )
        category = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
        severe = (category == 0) | (category == 3)
        u = rng.random(n)
        priority = np.where(
            severe,
            np.searchsorted(_cum((0.3, 0.4, 0.3)), u, side="right"),
            np.searchsorted(_cum((0.5, 0.35, 0.15)), u, side="right"),
        )
        lo = np.where(c["signup_off"][cust] == day, c["signup_sec"][cust], 0)
        sec = lo + np.floor(rng.random(n) * (DAY_S - lo)).astype(np.int64)
        closes = rng.random(n) < 0.85
        close_lag = rng.integers(1, TICKET_CLOSE_MAX_LAG + 1, n)
        close_sec = rng.integers(0, DAY_S, n)
        order = np.argsort(sec, kind="stable")
        cust, category, priority, sec = cust[order], category[order], priority[order], sec[order]
        closes, close_lag, close_sec = closes[order], close_lag[order], close_sec[order]
        t = sec + self.epoch0 + day * DAY_S
        tickets = pl.DataFrame(
            {
                "ticket_id": _ids("tk-", day, n, 5),
                "customer_id": c["customer_id"][cust],
                "_t": t,
                "category": _labels_of(TICKET_CATEGORIES, category),
                "priority": _labels_of(PRIORITIES, priority),
            }
        ).with_columns(
            pl.lit("open").alias("status"),
            _ts("_t").alias("created_at"),
            _ts("_t").alias("updated_at"),
        )
        tickets = tickets.select(list(_SCHEMAS["tickets"]))
        closed = tickets.with_columns(
            pl.lit("closed").alias("status"),
            pl.Series("_t", (day + close_lag) * DAY_S + self.epoch0 + close_sec),
            pl.Series("_lag", np.where(closes, close_lag, 0)),
        ).with_columns(_ts("_t").alias("updated_at"))
        for k in range(1, TICKET_CLOSE_MAX_LAG + 1):
            part = closed.filter(pl.col("_lag") == k).drop("_lag")
            if part.height:
                self._updates[day + k]["tickets"].append(part)
        return tickets

    def _customer_rows(self, day: int) -> pl.DataFrame:
        c = self.c
        rng = self._rng("customer_rows", day)
        signup = c["signup_off"]
        new = signup == day
        if day == 0:
            new = new | (signup < 0)
        changed = (c["plan_change_off"] == day) & (signup < day) & (c["churn_off"] > day)
        sel_new = np.flatnonzero(new)
        sel_chg = np.flatnonzero(changed)
        snapshot_sec = rng.integers(0, DAY_S, len(sel_new))
        new_sec = np.where(signup[sel_new] == day, c["signup_sec"][sel_new], snapshot_sec)
        chg_sec = rng.integers(0, DAY_S, len(sel_chg))
        sel = np.concatenate([sel_new, sel_chg])
        plan = np.concatenate([c["plan"][sel_new], c["new_plan"][sel_chg]])
        t = np.concatenate([new_sec, chg_sec]).astype(np.int64) + self.epoch0 + day * DAY_S
        order = np.lexsort((c["customer_id"][sel], t))
        sel, plan, t = sel[order], plan[order], t[order]
        start_days = (self.p.start - date(1970, 1, 1)).days
        df = pl.DataFrame(
            {
                "customer_id": c["customer_id"][sel],
                "country": _labels_of(COUNTRIES, c["country"][sel]),
                "plan_tier": _labels_of(PLANS, plan),
                "_tenant": c["tenant"][sel].astype(np.int64),
                "_signup_day": (c["signup_off"][sel] + start_days).astype(np.int32),
                "_t": t,
            }
        )
        return df.select(
            "customer_id",
            ("user" + pl.col("customer_id").cast(pl.String) + "@example.com").alias("email"),
            "country",
            "plan_tier",
            ("t-" + pl.col("_tenant").cast(pl.String).str.zfill(2)).alias("tenant_id"),
            pl.col("_signup_day").cast(pl.Date).dt.strftime("%Y-%m-%d").alias("signup_date"),
            _ts("_t").alias("updated_at"),
            "_t",
        )

    def _labels(self, day: int) -> pl.DataFrame:
        obs = day - LABEL_HORIZON_DAYS
        if not _observed(obs):
            return _empty("churn_labels")
        c = self.c
        sel = np.flatnonzero((c["signup_off"] < obs) & (c["churn_off"] > obs))
        churned = c["churn_off"][sel] <= obs + LABEL_HORIZON_DAYS
        label_ts = (self.p.start + timedelta(days=obs)).isoformat() + "T00:00:00Z"
        return pl.DataFrame(
            {
                "customer_id": c["customer_id"][sel],
                "churned": churned,
                "_t": np.full(len(sel), self.epoch0 + day * DAY_S, dtype=np.int64),
            }
        ).select("customer_id", pl.lit(label_ts).alias("label_timestamp"), "churned", "_t")

    # ----------------------------------------------------------------- dirt
    def _make_dirty(
        self, source: str, day: int, clean: pl.DataFrame
    ) -> tuple[pl.DataFrame, int, _Corrupt]:
        """Split a day's clean rows into kept and corrupted rows; late and next-day duplicate
        copies are scheduled as arrivals of later days.

        Returns (kept rows incl. same-file duplicate copies, number of those copies, corrupted
        rows). Only this day's rows and random stream are used, which keeps every day
        reproducible on its own.
        """
        f = self.p.dirty_fraction
        n = clean.height
        if f == 0.0 or n == 0:
            return clean, 0, _Corrupt()
        rng = self._rng("dirty", day, SOURCES.index(source))
        dirty = rng.random(n) < f
        kind = _pick(rng, tuple(p for _, p in _DIRTY_SPLIT), n)
        lag = rng.integers(1, LATE_MAX_LAG + 1, n)
        target = rng.integers(0, len(_WRONG_TYPE_TARGETS[source]), n)
        names = [k for k, _ in _DIRTY_SPLIT]
        code = np.where(dirty, kind, -1)

        def rows(mask: np.ndarray) -> pl.DataFrame | None:
            idx = np.flatnonzero(mask)
            return clean[idx] if len(idx) else None

        def of(k: str) -> np.ndarray:
            return code == names.index(k)

        if not dirty.any():
            return clean, 0, _Corrupt()
        kept = rows((code == -1) | of("dup_same") | of("dup_next"))
        dup_same = rows(of("dup_same"))
        parts = [p for p in (kept, dup_same) if p is not None]
        kept = pl.concat(parts, how="vertical") if parts else clean.clear()
        dup_next = rows(of("dup_next"))
        if dup_next is not None:
            self._arrivals[day + 1][source].append(("duplicate", dup_next))
        for k in range(1, LATE_MAX_LAG + 1):
            late = rows(of("late") & (lag == k))
            if late is not None:
                self._arrivals[day + k][source].append(("late", late))
        corrupt = _Corrupt(
            malformed=rows(of("malformed")),
            wrong_type=[
                rows(of("wrong_type") & (target == i))
                for i in range(len(_WRONG_TYPE_TARGETS[source]))
            ],
            null_key=rows(of("null_key")),
        )
        return kept, 0 if dup_same is None else dup_same.height, corrupt

    def _extra_column(self, source: str) -> pl.Expr:
        cid = pl.col("customer_id")
        if source == "customers":
            return ("R" + ((cid * 7919) % 100_000).cast(pl.String).str.zfill(5)).alias(
                EXTRA_COLUMNS[source]
            )
        return ("3." + (cid % 5).cast(pl.String) + "." + (cid % 11).cast(pl.String)).alias(
            EXTRA_COLUMNS[source]
        )

    def _dirty_lines(
        self, source: str, corrupt: _Corrupt, extra: pl.Expr | None
    ) -> tuple[str, dict[str, int]]:
        """Raw text of the corrupted lines, derived from real rows so each breaks one way."""
        fmt = FORMATS[source]
        chunks: list[str] = []
        counts = dict.fromkeys(("malformed", "wrong_type", "null_key"), 0)
        cols = list(COLUMNS[source])

        def prepared(df: pl.DataFrame) -> pl.DataFrame:
            df = df.select(cols)
            return df.with_columns(extra) if extra is not None else df

        def as_lines(df: pl.DataFrame) -> str:
            return df.write_ndjson() if fmt == "json" else df.write_csv(include_header=False)

        if corrupt.malformed is not None:
            bad = prepared(corrupt.malformed)
            if fmt == "json":  # cut in half: never valid JSON
                line = bad.select(pl.struct(pl.all()).struct.json_encode().alias("l")).select(
                    pl.col("l").str.slice(0, pl.col("l").str.len_chars() // 2)
                )
            else:  # too few fields
                line = bad.select(
                    pl.concat_str(
                        [pl.col(x).cast(pl.String) for x in cols[:3]], separator=","
                    ).alias("l")
                )
            chunks.append(line.write_csv(include_header=False, quote_style="never"))
            counts["malformed"] = bad.height

        for part, (col, value) in zip(
            corrupt.wrong_type, _WRONG_TYPE_TARGETS[source], strict=False
        ):
            if part is None:
                continue
            if value == _BAD_INT:
                expr = _BAD_INT + pl.col(col).cast(pl.String)
            else:
                expr = pl.lit(value, dtype=pl.String)
            chunks.append(as_lines(prepared(part).with_columns(expr.alias(col))))
            counts["wrong_type"] += part.height

        if corrupt.null_key is not None:
            key = _KEYS[source]
            nulls = prepared(corrupt.null_key)
            chunks.append(
                as_lines(nulls.with_columns(pl.lit(None, dtype=nulls.schema[key]).alias(key)))
            )
            counts["null_key"] = nulls.height
        return "".join(chunks), counts

    # ----------------------------------------------------------------- files
    def _write(
        self,
        source: str,
        day: int,
        kept: pl.DataFrame,
        same_dups: int,
        arrivals: list[tuple[str, pl.DataFrame]],
        corrupt: _Corrupt,
    ) -> None:
        counts = self.dirty[source]
        counts["duplicate"] += same_dups
        parts = [kept]
        for kind, frame in arrivals:
            counts[kind] += frame.height
            parts.append(frame)
        body = pl.concat(parts, how="vertical") if len(parts) > 1 else kept
        body = body.sort("_t", maintain_order=True)
        folder = self.landing_dir / source / (self.p.start + timedelta(days=day)).isoformat()
        path = folder / f"part-00000.{FORMATS[source]}"

        f = self.p.dirty_fraction
        shuffled = False
        if f > 0:
            rng = self._rng("shuffle", day, SOURCES.index(source))
            if rng.random() < min(1.0, 2 * f) and body["_t"].n_unique() > 1:
                perm = rng.permutation(body.height)
                t = body["_t"].to_numpy()[perm]
                if np.all(t[1:] >= t[:-1]):
                    perm = perm[::-1]
                body = body[perm]
                shuffled = True
        extra = (
            self._extra_column(source) if f > 0 and day == 0 and (source in EXTRA_COLUMNS) else None
        )

        text, dirty_counts = self._dirty_lines(source, corrupt, extra)
        n_lines = body.height + sum(dirty_counts.values())
        if n_lines == 0:
            if path.exists():  # stale file from an earlier, different run
                path.unlink()
                if not any(folder.iterdir()):
                    folder.rmdir()
            return
        out = body.select(COLUMNS[source])
        if extra is not None:
            out = body.with_columns(extra).select([*COLUMNS[source], EXTRA_COLUMNS[source]])
        folder.mkdir(parents=True, exist_ok=True)
        if FORMATS[source] == "json":
            out.write_ndjson(path)
        else:
            out.write_csv(path)
        if text:
            with path.open("a", encoding="utf-8", newline="") as fh:
                fh.write(text)

        for k, v in dirty_counts.items():
            counts[k] += v
        self.records[source] += n_lines
        self.files.append(path)
        if shuffled:
            counts["out_of_order"] += 1
            self.dirty_files["out_of_order"].append(path)
        if extra is not None:
            counts["extra_column"] += 1
            self.dirty_files["extra_column"].append(path)

    def report(self, first: int, last: int) -> GenerationReport:
        return GenerationReport(
            first_day=self.p.start + timedelta(days=first),
            last_day=self.p.start + timedelta(days=last),
            files=list(self.files),
            records=dict(self.records),
            dirty_by_source={s: dict(v) for s, v in self.dirty.items()},
            dirty_files={k: list(v) for k, v in self.dirty_files.items()},
        )
