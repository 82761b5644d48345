"""The estimator every model trains (`train.build_pipeline`) and the hyper-parameters it takes,
known without importing scikit-learn: a code location, `lakehouse-ml domains` and every run
check `ModelSpec.params` at load, and importing scikit-learn costs ~2 CPU-s a process."""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

ESTIMATOR = "HistGradientBoostingClassifier"
SOURCE = Path("ensemble", "_hist_gradient_boosting", "gradient_boosting.py")
"""Where scikit-learn defines `ESTIMATOR`, relative to its package folder."""


def _from_source() -> frozenset[str] | None:
    """The keyword arguments of `ESTIMATOR.__init__` in scikit-learn's source (what
    `get_params()` lists), or None when the source is not where it was (another layout)."""
    spec = importlib.util.find_spec("sklearn")  # finds the folder, imports nothing
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / SOURCE
    if not path.is_file():
        return None
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name == ESTIMATOR:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    arguments = [*item.args.posonlyargs, *item.args.args[1:],
                                 *item.args.kwonlyargs]
                    return frozenset(argument.arg for argument in arguments)
    return None


@functools.cache
def estimator_params() -> frozenset[str]:
    """Names `ESTIMATOR` accepts as hyper-parameters (`ModelSpec.params` keys): read from
    scikit-learn's source, else (a layout this does not know) from `get_params()` of an
    instance, importing scikit-learn."""
    found = _from_source()
    if found is None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        found = frozenset(HistGradientBoostingClassifier().get_params())
    return found
