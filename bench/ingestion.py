"""Ingestion throughput: landing → bronze → silver with lakehouse_ml vs. hand-written polars.

Both sides read the same generated (clean) landing files, each in its own fresh process:

* ours — the engine functions the Dagster assets call, per source: `ingest` (manifest, per-line
  parsing, lineage columns, bronze Delta commit) then `refine` (typing, pandera contract,
  quarantine, dedup, silver Delta MERGE). No Dagster: its run overhead is not the subject here.
* peer — what a user writes by hand: `pl.read_ndjson(files)` / `pl.read_csv(files)` per source
  and `write_parquet`; no typing of timestamps, no dedup, no exactly-once, no Delta.

    python -m bench.ingestion [--quick] [--customers N] [--days D]
"""

from __future__ import annotations

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
    ensure_landing,
    fmt_bytes,
    fmt_rate,
    landing_dir,
    run_phase,
    save,
    size_parser,
)

DEFAULT = Size(customers=20_000, days=30)
QUICK = Size(customers=1_000, days=7)


def _ours(landing: Path, root: Path) -> None:
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.domains.churn import DOMAIN
    from lakehouse_ml.ingest.bronze import ingest
    from lakehouse_ml.ingest.layout import landed_batches
    from lakehouse_ml.medallion.silver import refine

    watch = Stopwatch()
    catalog = Catalog(str(root), "bench")
    records: dict[str, int] = {}
    for source in DOMAIN.sources:
        batches = landed_batches(str(landing), source.name)
        with watch.lap(f"ingest {source.name}"):
            report = ingest(catalog, source, str(landing), batches)
        with watch.lap(f"refine {source.name}"):
            refine(catalog, source, batches)
        records[source.name] = report.lines
    emit(watch.result(records=records))


def _peer(landing: Path, out: Path) -> None:
    import polars as pl

    watch = Stopwatch()
    out.mkdir(parents=True, exist_ok=True)
    records: dict[str, int] = {}
    for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*/part-*"))
        with watch.lap(folder.name):
            frame = pl.read_csv(files) if files[0].suffix == ".csv" else pl.read_ndjson(files)
            frame.write_parquet(out / f"{folder.name}.parquet")
        records[folder.name] = frame.height
    emit(watch.result(records=records))


def _side(m: Measured) -> dict[str, Any]:
    records = sum(m.result["records"].values())
    return {
        "records": records, "work_s": round(m.work_s, 2), "wall_s": round(m.wall_s, 2),
        "records_per_s": round(records / m.work_s), "peak_rss_bytes": m.peak_rss,
        "records_by_source": m.result["records"],
        "laps_s": {k: round(v, 2) for k, v in m.result["laps"].items()},
        "lap_peak_rss_bytes": m.result.get("lap_peak_rss", {}),
    }


def run(size: Size) -> dict[str, Any]:
    """Generate (cached), then measure ours and the peer, each in a fresh process."""
    print(f"== ingestion: {size.customers:,} customers x {size.days} days", flush=True)
    landing = landing_dir("ingestion", size.customers, size.days)
    ensure_landing(landing, size.customers, size.days)
    work = OUT / "ingestion" / "run"
    shutil.rmtree(work, ignore_errors=True)
    peer = run_phase("bench.ingestion", ["peer", str(landing), str(work / "parquet")])
    ours = run_phase("bench.ingestion", ["ours", str(landing), str(work / "lake")])
    result = {
        "customers": size.customers, "days": size.days,
        "landing_bytes": sum(f.stat().st_size for f in landing.rglob("part-*")),
        "ours": _side(ours), "peer": _side(peer),
        "time_ratio_ours_over_peer": round(ours.work_s / peer.work_s, 1),
        "memory_ratio_ours_over_peer": round(ours.peak_rss / peer.peak_rss, 1),
    }
    if result["ours"]["records"] != result["peer"]["records"]:
        print(f"  WARNING: record counts differ: ours {result['ours']['records']:,}, "
              f"peer {result['peer']['records']:,}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"  figures: {save(f'ingestion-{size.customers}c-{size.days}d', result)}")
    return result


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"ingestion ({result['customers']:,} customers x {result['days']} days, "
             f"{result['ours']['records']:,} records, "
             f"{fmt_bytes(result['landing_bytes'])} landed):"]
    for name, label in (("ours", "lakehouse_ml landing→bronze→silver"),
                        ("peer", "polars read_ndjson/read_csv→parquet")):
        side = result[name]
        rate = fmt_rate(side["records"], side["work_s"])
        lines.append(f"  {label:38s} {side['work_s']:8.1f} s  {rate:>16s}  "
                     f"peak {fmt_bytes(side['peak_rss_bytes'])}")
    lines.append(f"  ours/peer time x{result['time_ratio_ours_over_peer']}, "
                 f"peak memory x{result['memory_ratio_ours_over_peer']}")
    laps, peaks = result["ours"]["laps_s"], result["ours"]["lap_peak_rss_bytes"]
    slowest = sorted(laps, key=lambda k: -laps[k])[:4]
    lines.append("  slowest steps (ours): "
                 + ", ".join(f"{k} {laps[k]:.1f} s ({fmt_bytes(peaks.get(k, 0))} peak)"
                             for k in slowest))
    return lines


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("ours", "peer"):
        (_ours if argv[0] == "ours" else _peer)(Path(argv[1]), Path(argv[2]))
        return
    args = size_parser("python -m bench.ingestion", __doc__).parse_args(argv)
    print("\n".join(summary(run(chosen_size(args, DEFAULT, QUICK)))))


if __name__ == "__main__":
    main(sys.argv[1:])
