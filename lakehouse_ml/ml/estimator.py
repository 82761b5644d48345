"""The estimator every model trains (`train.build_pipeline`) and the hyper-parameters it takes.

`ModelSpec.params` is checked in two places:
- its names at load (`domains.references`, in every process: a code location, each Dagster
  run, every `lakehouse-ml` command), by `estimator_params`, read from scikit-learn's source
  without importing it;
- its values by `params_refused`, with the estimator's own parameter constraints (what its
  `fit` checks first), in `lakehouse-ml domains` and at the start of training
  (`ml.candidate`), before any data is read. Not at load: importing scikit-learn costs
  1.0-1.25 CPU-s a process (measured on top of polars, pandas and numpy, 2026-12-02), about
  as much again as loading every domain (1.4 CPU-s), in processes that mostly never train.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ESTIMATOR = "HistGradientBoostingClassifier"
SOURCE = Path("ensemble", "_hist_gradient_boosting", "gradient_boosting.py")
"""Where scikit-learn defines `ESTIMATOR`, relative to its package folder."""
LIMITS = {"max_iter": 10_000}
"""This project's upper bounds on parameters the estimator takes unbounded: boosting
iterations are its training time (the default is 100), and `early_stopping` is off on
training sets under 10,000 rows, so `max_iter=10**9` would train for days."""


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


def params_refused(model: str, params: Mapping[str, Any]) -> str | None:
    """Why `ESTIMATOR` would refuse `params` of the model `model`, in one line naming the model
    and each refused parameter with what it must be (scikit-learn's words, e.g. `model 'm':
    params refused: The 'max_iter' parameter of HistGradientBoostingClassifier must be an int
    in the range [1, inf). Got 'fifty' instead.`), or None. Refused too: a name the estimator
    does not take; a boolean where the estimator takes a number (Python's `True` is the int 1,
    which scikit-learn's checks let through); a value above `LIMITS`. Imports scikit-learn
    (see the module's docstring)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.utils._param_validation import InvalidParameterError

    refused = []
    for name, value in params.items():
        if not isinstance(name, str) or name not in estimator_params():
            refused.append(f"{name!r} is not a parameter of {ESTIMATOR}.")
            continue
        try:  # each on its own, so that every refused one is named
            HistGradientBoostingClassifier(**{name: value})._validate_params()
        except InvalidParameterError as error:
            refused.append(" ".join(str(error).split()))
            continue
        takes = HistGradientBoostingClassifier._parameter_constraints[name]
        if isinstance(value, bool) and not {"boolean", "verbose"} & set(map(str, takes)):
            refused.append(f"The {name!r} parameter of {ESTIMATOR} must not be a boolean. "
                           f"Got {value!r} instead.")
        elif name in LIMITS and isinstance(value, int | float) and value > LIMITS[name]:
            refused.append(f"The {name!r} parameter of {ESTIMATOR} must be at most "
                           f"{LIMITS[name]:,} in this project. Got {value!r} instead.")
    return f"model {model!r}: params refused: {' '.join(refused)}" if refused else None


def check_params(model: str, params: Mapping[str, Any]) -> None:
    """ValueError with `params_refused`'s line when the estimator would refuse `params`."""
    if (why := params_refused(model, params)) is not None:
        raise ValueError(why)
