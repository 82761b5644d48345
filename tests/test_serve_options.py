"""Every `lakehouse-ml serve` setting out of range is a one-line usage error naming its flag
(not the field behind it), and `generate --customers` has an upper bound it names."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lakehouse_ml.cli import app

runner = CliRunner()

BAD = [  # arguments, flags named, words of the reason
    (["--max-rows", "0"], ["--max-rows"], "must be positive, got 0"),
    (["--max-body-bytes", "-1"], ["--max-body-bytes"], "must be positive, got -1"),
    (["--header-seconds", "0"], ["--header-seconds"], "must be positive, got 0.0"),
    (["--body-seconds", "nan"], ["--body-seconds"], "must be positive, got nan"),
    (["--max-connections", "0"], ["--max-connections"], "must be positive"),
    (["--max-header-bytes", "0"], ["--max-header-bytes"], "must be positive"),
    (["--poll-seconds", "0"], ["--poll-seconds"], "must be positive"),
    (["--log-flush-rows", "0"], ["--log-flush-rows"], "must be positive"),
    (["--log-flush-seconds", "-1"], ["--log-flush-seconds"], "must be positive"),
    (["--challenger-share", "1.5"], ["--challenger-share"], "1.5 is not in [0, 1]"),
    (["--log-buffer-bytes", "0"], ["--log-body-bytes", "--log-buffer-bytes"],
     "at least 64 and at most the second, got 16384 and 0"),
    (["--log-body-bytes", "10"], ["--log-body-bytes", "--log-buffer-bytes"], "got 10 and"),
]


def _line(*args: str) -> str:
    result = runner.invoke(app, list(args), prog_name="lakehouse-ml")
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    return line


@pytest.mark.parametrize(("args", "flags", "words"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_a_serve_setting_out_of_range_is_a_usage_error_naming_its_flags(
    args: list[str], flags: list[str], words: str
) -> None:
    line = _line("serve", *args)
    assert line.startswith("lakehouse-ml serve: "), line
    assert all(f"'{flag}'" in line for flag in flags) and words in line, line
    assert "_" not in line.split(":", 2)[2], f"a field name, not a flag: {line}"


def test_generate_customers_has_an_upper_bound_named_in_the_error() -> None:
    line = _line("generate", "--customers", "99999999999999999999999")
    assert line.startswith("lakehouse-ml generate: ") and "'--customers'" in line, line
    assert "1000000" in line and "dimension" not in line, line
