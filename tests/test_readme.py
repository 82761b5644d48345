"""Every ```python block of the README runs (issue 11 item 9): a snippet that does not import or
raises fails here, not in a new user's hands.

A block whose info string names a file (```python lakehouse_ml/domains/iot/__init__.py) is that
file: it is written under a temporary project tree and imported by its module name, as the
package the user would create. Every other block runs on its own, with the lakehouse, landing
zone, MLflow store and Dagster home in a temporary directory (also the working directory).
Shell blocks (```bash) are not run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from lakehouse_ml.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass(frozen=True)
class Block:
    line: int
    """1-based line of the block's first code line in the markdown file."""
    source: str
    path: str | None
    """The project file the block is, when its info string names one."""

    @property
    def module(self) -> str:
        parts = Path(self.path or "").with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_blocks(markdown: str) -> list[Block]:
    """The fenced ```python blocks of `markdown`, in order."""
    blocks = []
    for token in MarkdownIt("commonmark").parse(markdown):
        words = token.info.split()
        if token.type == "fence" and words[:1] == ["python"] and token.map:
            blocks.append(Block(token.map[0] + 2, token.content,
                                words[1] if len(words) > 1 else None))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def run_block(block: Block) -> None:
    """Execute a block as a script whose tracebacks point at README lines."""
    code = compile("\n" * (block.line - 1) + block.source, str(README), "exec")
    exec(code, {"__name__": "__readme__"})


def _extend_package(monkeypatch: pytest.MonkeyPatch, root: Path, block: Block) -> None:
    """Make `block.module` importable from `root`: its nearest existing parent package also
    searches the matching folder under `root`."""
    parts = block.module.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        parent = importlib.import_module(".".join(parts[:depth]))
        if hasattr(parent, "__path__"):
            folder = str(root.joinpath(*parts[:depth]))
            monkeypatch.setattr(parent, "__path__", [*parent.__path__, folder])
            return
    raise AssertionError(f"README.md:{block.line}: {block.path} is not inside a package")


@pytest.fixture
def readme_project(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[Path]:
    """A temporary project: the README's file blocks written under it and importable, every
    setting pointing into it, and it the working directory."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
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
    markdown = ("# t\n\n```bash\nmake run\n```\n\n```python\nx = 1\n```\n\n"
                "```python pkg/mod.py\ny = 2\n```\n\n```\nplain\n```\n")
    assert python_blocks(markdown) == [Block(8, "x = 1\n", None),
                                       Block(12, "y = 2\n", "pkg/mod.py")]
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
