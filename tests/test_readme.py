"""Every ```python block of the README runs (issue 11 item 9): a snippet that does not import or
raises fails here, not in a new user's hands.

A block whose info string names a file (```python lakehouse_ml/domains/iot/__init__.py) is that
file: it is written under a temporary project tree and imported by its module name, as the
package the user would create. Every other block runs on its own, with the lakehouse, landing
zone, MLflow store and Dagster home in a temporary directory (also the working directory).
Shell blocks (```bash) are not run.

Blocks are found with markdown-it-py (CommonMark, pinned 4.3.0); pytest-markdown-docs requires
markdown-it-py < 4, and would still not write a block that is a project file to its path.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.cli.serving import endpoints
from lakehouse_ml.config import Settings
from lakehouse_ml.ml.registry import CHAMPION, alias_version, use_tracking
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import running

README = Path(__file__).resolve().parents[1] / "README.md"
WALKTHROUGH = "Add your own domain"
PYTHON = {"python", "python3", "py"}


@dataclass(frozen=True)
class Block:
    line: int
    """1-based line of the block's first code line in the markdown file."""
    source: str
    path: str | None
    """The project file the block is, when its info string names one."""
    section: str = ""
    """The heading the block stands under."""

    @property
    def module(self) -> str:
        parts = Path(self.path or "").with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_blocks(markdown: str) -> list[Block]:
    """The fenced ```python (or py, python3) blocks of `markdown`, in order."""
    blocks, section, tokens = [], "", MarkdownIt("commonmark").parse(markdown)
    for at, token in enumerate(tokens):
        words = token.info.split()
        if token.type == "heading_open":
            section = tokens[at + 1].content
        elif token.type == "fence" and words and words[0] in PYTHON and token.map:
            blocks.append(Block(token.map[0] + 2, token.content,
                                words[1] if len(words) > 1 else None, section))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def run_block(block: Block) -> None:
    """Execute a block as a script whose tracebacks point at README lines."""
    code = compile("\n" * (block.line - 1) + block.source, str(README), "exec")
    exec(code, {"__name__": "__readme__"})


def _extend_package(monkeypatch: pytest.MonkeyPatch, root: Path, block: Block) -> None:
    """Make `block.module` importable from `root`: its nearest existing parent package searches
    the matching folder under `root` first (so the README's file wins over a same-named one)."""
    parts = block.module.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        parent = importlib.import_module(".".join(parts[:depth]))
        if hasattr(parent, "__path__"):
            folder = str(root.joinpath(*parts[:depth]))
            monkeypatch.setattr(parent, "__path__", [folder, *parent.__path__])
            return
    raise AssertionError(f"README.md:{block.line}: {block.path} is not inside a package")


@pytest.fixture
def readme_project(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[Path]:
    """A temporary project: the README's file blocks written under it and importable, every
    setting pointing into it, and it the working directory."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.delenv("REDIS_URL", raising=False)  # online store: SQLite under the root
    (tmp_path / "dagster").mkdir()
    monkeypatch.chdir(tmp_path)
    files = [block for block in BLOCKS if block.path]
    for block in files:
        target = tmp_path / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.source, encoding="utf-8")
        _extend_package(monkeypatch, tmp_path, block)
    importlib.invalidate_caches()
    yield tmp_path
    for name in [m for m in sys.modules
                 if any(m == b.module or m.startswith(f"{b.module}.") for b in files)]:
        del sys.modules[name]


def test_python_blocks_are_collected_with_their_lines_and_files() -> None:
    markdown = ("# T\n\n```bash\nmake run\n```\n\n```python\nx = 1\n```\n\n"
                "```python pkg/mod.py\ny = 2\n```\n\n```\nplain\n```\n\n```py\nz = 3\n```\n")
    assert python_blocks(markdown) == [Block(8, "x = 1\n", None, "T"),
                                       Block(12, "y = 2\n", "pkg/mod.py", "T"),
                                       Block(20, "z = 3\n", None, "T")]
    assert Block(1, "", "lakehouse_ml/domains/iot/__init__.py").module == "lakehouse_ml.domains.iot"
    assert len(BLOCKS) >= 2, "the README's ```python blocks were not found"


def test_a_broken_block_fails_at_its_readme_line() -> None:
    with pytest.raises(NameError) as raised:
        run_block(Block(40, "import polars as pl\n\nframe = pl.DataFrame()\nundefined_name\n",
                        None))
    assert raised.traceback[-1].lineno + 1 == 43
    assert str(raised.traceback[-1].path) == str(README)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"README.md:{b.line}")
def test_readme_block_runs(block: Block, readme_project: Path) -> None:
    if block.path:
        module = importlib.import_module(block.module)
        assert Path(module.__file__ or "").resolve() == (readme_project / block.path).resolve()
    else:
        run_block(block)


def test_the_iot_walkthrough_lands_runs_trains_scores_and_serves(readme_project: Path) -> None:
    """The walkthrough's own blocks: its package, its landing script, then `lakehouse-ml run
    --domain iot` through the real code location (churn beside it), and the endpoints of
    `lakehouse-ml serve --domain iot` answering key-only rows as batch scoring did."""
    steps = [block for block in BLOCKS if block.section == WALKTHROUGH and not block.path]
    assert steps, f"no landing block under '{WALKTHROUGH}'"
    for block in steps:
        run_block(block)
    settings = Settings.from_env()

    result = CliRunner().invoke(app, ["run", "--domain", "iot"])

    assert result.exit_code == 0, result.output
    catalog = Catalog(settings.root, settings.env)
    landing = Path(settings.landing)
    readings = pl.concat(pl.read_ndjson(f) for f in sorted(landing.glob("readings/*/*.jsonl")))
    expected = (readings.group_by("device_id", pl.col("measured_at").str.slice(0, 10)
                                  .str.to_date().alias("day"))
                .agg(pl.col("celsius").max().alias("max_celsius")).sort("device_id", "day"))
    gold = catalog.read("gold.device_days").sort("device_id", "day")
    assert gold.select(expected.columns).equals(expected)
    inspections = sum(len(f.read_text().splitlines()) - 1  # one header line per file
                      for f in landing.glob("inspections/*/*.csv"))
    training = catalog.read("iot.training_set")
    assert training.height == inspections > 0
    assert training["max_celsius_7d"].null_count() == 0, "every inspection finds a snapshot"
    name = f"{settings.env}.iot.fault_clf"
    assert alias_version(use_tracking(settings.mlflow_tracking_uri), name, CHAMPION) == 1
    scores = catalog.read("iot.predictions").sort("device_id")
    assert scores["device_id"].to_list() == sorted(readings["device_id"].unique())
    batch = dict(scores.select("device_id", "probability").iter_rows())
    assert batch["s0"] > batch["s1"], "the hot sensor s0 is the likelier fault"

    token = TokenStore(catalog).create("readme")
    body = {"dataframe_records": [{"device_id": "s0"}, {"device_id": "s1"}]}
    with running(ServingConfig(settings, endpoints(domain="iot"))) as client:
        answer = client.post("/serving-endpoints/fault_clf/invocations", json=body,
                             headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["unmatched_lookups"] == [[], []]
    assert answer.json()["predictions"] == pytest.approx([batch["s0"], batch["s1"]], abs=1e-9)
