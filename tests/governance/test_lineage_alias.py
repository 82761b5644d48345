"""Model references with an alias, as MLflow users write `models:/name@alias`: `lakehouse-ml
lineage` and `lakehouse-ml reproduce` take `MODEL@ALIAS` (and `/VERSION`) through the one
parser `lakehouse_ml.ml.model_ref`; the alias is resolved in the registry at the time of the
call; an unknown alias or model is a one-line error naming it. On a copy of the built-once
serving lakehouse (champion version 1, challenger version 2) and its real MLflow store."""

from __future__ import annotations

import json
import shutil

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.model_ref import InvalidModelRef, ModelRef
from lakehouse_ml.ml.registry import CHAMPION, use_tracking
from tests.conftest import built_once
from tests.serving.lakehouse import build_lakehouse

NAME = MODEL.registered_name("dev")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Settings:
    built = built_once(tmp_path_factory, "serving",
                       lambda folder: build_lakehouse(folder, churn_history))
    own = tmp_path_factory.mktemp("lineage-alias")
    for part in ("lakehouse", "mlflow"):
        shutil.copytree(built / part, own / part)
    uri = f"sqlite:///{own / 'mlflow' / 'mlflow.db'}"
    # the aliases this file's tests start from, set on its own copy: the built-once store is
    # shared by the suite, and in one fresh-clone run its champion alias was gone by the time
    # this file copied it (a test wrote into the original; not yet found which)
    client = MlflowClient(uri, uri)
    client.set_registered_model_alias(NAME, CHAMPION, "1")
    client.set_registered_model_alias(NAME, "challenger", "2")
    return Settings(str(own / "lakehouse"), churn_history.landing, "dev", uri)


def cli(settings: Settings, *args: str) -> tuple[int, str]:
    runner = CliRunner(env={"LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_ENV": "dev",
                            "LAKEHOUSE_LANDING": settings.landing,
                            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri})
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def upstream(settings: Settings, name: str) -> dict:
    code, out = cli(settings, "lineage", name, "--upstream", "--json")
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("text, expected", [
    ("churn_clf", ModelRef("churn_clf")),
    ("churn_clf/3", ModelRef("churn_clf", version=3)),
    ("dev.churn.churn_clf@champion", ModelRef("dev.churn.churn_clf", alias="champion")),
    ("models:/churn.churn_clf@previous_champion",
     ModelRef("churn.churn_clf", alias="previous_champion")),
    ("models:/dev.churn.churn_clf/12", ModelRef("dev.churn.churn_clf", version=12)),
])
def test_the_forms_mlflow_users_write_are_parsed(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected
    assert str(expected) == text.removeprefix("models:/")


@pytest.mark.parametrize("text", ["", "@champion", "churn_clf@", "churn_clf/", "churn_clf/0",
                                  "churn_clf@a b", "churn_clf@x/1", "churn_clf/1@x",
                                  "churn_clf@" + "a" * 256, "x" * 2000, "churn clf"])
def test_a_malformed_reference_names_itself_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidModelRef) as error:
        ModelRef.parse(text)
    assert "MODEL, MODEL/VERSION or MODEL@ALIAS" in str(error.value)
    assert repr(text[:80])[:-1] in str(error.value)


def test_lineage_of_an_alias_is_the_lineage_of_the_version_it_points_to(
        served: Settings) -> None:
    one, two = upstream(served, f"{NAME}/1"), upstream(served, f"{NAME}/2")
    assert one["version"] == 1 and two["version"] == 2 and one["edges"] != two["edges"]

    assert upstream(served, f"{NAME}@champion") == one
    for name in (f"{NAME}@challenger", "churn.churn_clf@challenger",
                 f"models:/{NAME}@challenger", "churn_clf@challenger", "churn_clf/2"):
        assert upstream(served, name) == two, name


def test_the_alias_is_resolved_at_the_time_of_the_call(served: Settings) -> None:
    client = use_tracking(served.mlflow_tracking_uri)
    client.set_registered_model_alias(NAME, CHAMPION, "2")
    try:
        assert upstream(served, "churn_clf@champion")["version"] == 2
        code, out = cli(served, "lineage", "churn_clf@champion", "--upstream")
        assert code == 0 and out.startswith(f"upstream of MODEL {NAME} version 2:"), out
    finally:
        client.set_registered_model_alias(NAME, CHAMPION, "1")
    assert upstream(served, "churn_clf@champion")["version"] == 1


@pytest.mark.parametrize("name, said", [
    ("churn_clf@nope", f"model {NAME} has no alias 'nope'"),
    (f"{NAME}@nope", f"model {NAME} has no alias 'nope'"),
    ("dev.churn.no_such_model@champion",
     "no registered model dev.churn.no_such_model (alias 'champion')"),
    ("churn_clf@", "is not a table, a model"),
])
def test_an_unknown_alias_or_model_is_a_one_line_error_naming_it(
        served: Settings, name: str, said: str) -> None:
    code, out = cli(served, "lineage", name, "--upstream")
    assert code != 0 and out.count("\n") == 1 and said in out, out


def test_reproduce_takes_the_same_alias_forms(served: Settings) -> None:
    code, out = cli(served, "reproduce", "churn_clf@challenger")
    assert code == 0 and f"{NAME} version 2: training set" in out and "is identical" in out

    code, out = cli(served, "reproduce", "churn_clf@nope")
    assert code == 1 and out.count("\n") == 1 and f"model {NAME} has no alias 'nope'" in out

    code, out = cli(served, "reproduce", "churn_clf@")
    assert code == 2 and "MODEL, MODEL/VERSION or MODEL@ALIAS" in out
