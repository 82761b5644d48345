"""Whatever a landed file holds, erasing a subject from it never raises, keeps the other lines
byte for byte and in order, leaves no record bronze would read as the subject's, and keeps
every record whose key is another customer's (hypothesis, real files)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.governance.erasure_files import erase_landed_files
from lakehouse_ml.governance.erasure_places import Subject
from lakehouse_ml.ingest.landing import parse

EVENTS = DOMAIN.source("events")
COLUMNS = list(EVENTS.schema)
SUBJECT = Subject("customer_id", "4")
KEYS = st.sampled_from([4, 42, 14, 40, 44, "4", " 4", "04", "x4", "x42", 4.0, [4], None, True])


@st.composite
def lines(draw: st.DrawFn, end: bytes) -> bytes:
    kind = draw(st.sampled_from(["record", "cut", "bytes", "empty"]))
    record = json.dumps({"event_id": f"e-{draw(st.integers(0, 99))}",
                         "customer_id": draw(KEYS), "event_type": "login"}).encode()
    body = {"record": record, "cut": record[:draw(st.integers(0, len(record)))],
            "bytes": draw(st.binary(max_size=40)).replace(b"\n", b"").replace(b"\r", b""),
            "empty": b""}[kind]
    return body + end


def others(data: bytes) -> list[bytes]:
    """Lines of records whose key is a valid integer other than 4 (they must stay)."""
    kept = []
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for line in data.split(b"\n"):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        key = value.get("customer_id") if isinstance(value, dict) else None
        if isinstance(key, int) and not isinstance(key, bool) and key != 4:
            kept.append(line)
    return kept


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([b"\n", b"\r\n", b"\r"]).flatmap(
    lambda end: st.lists(lines(end), max_size=12)), st.booleans())
def test_any_file_content(tmp_path: Path, body: list[bytes], bom: bool) -> None:
    folder = tmp_path / "case"
    shutil.rmtree(folder, ignore_errors=True)
    path = folder / "landing" / "events" / "2026-03-01" / "part-0.json"
    path.parent.mkdir(parents=True)
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(body)
    path.write_bytes(data)
    places = erase_landed_files(folder / "landing", folder / "lakehouse", "dev", SUBJECT,
                                dry_run=False, sources=[EVENTS])
    after = path.read_bytes()
    remaining = iter(body)
    assert all(line in remaining for line in after.removeprefix(b"\xef\xbb\xbf").splitlines(
        keepends=True)), "kept lines are the original lines, in order"
    assert sum(p.rows for p in places) == len(body) - len(after.removeprefix(
        b"\xef\xbb\xbf").splitlines())
    records = parse(after, "jsonl", COLUMNS).records["customer_id"].to_list()
    assert not [k for k in records if k is not None and k.strip().lstrip("+0") == "4"]
    assert others(after) == others(data)
