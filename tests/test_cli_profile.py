"""`crmmigrate profile` as a user runs it: the table, --json, and bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def deals_csv(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text(
        "Deal;Amount;Closed\n"
        "D1;1.234,50;25.03.2021\n"
        "D2;99,90;01.04.2021\n"
        "D3;;02.04.2021\n"
        "D4;1,234.50;03.04.2021\n"
        "D1;7,5;04/05/2021\n",
        encoding="utf-8",
    )
    return path


def rows_of(output: str) -> dict[str, list[str]]:
    """The table's first line per column name, split into its cells."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│").split("│")]
        if len(cells) == 6 and cells[0] and cells[0] not in found:
            found[cells[0]] = cells
    return found


def test_profile_prints_the_table_warnings_and_extraction_choices(deals_csv):
    result = run("profile", str(deals_csv), "--top", "2")

    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert rows["Deal"] == ["Deal", "100.0", "4", "D1 (2)", "text 100%", ""]
    assert rows["Amount"] == [
        "Amount", "80.0", "4", "1,234.50 (1)", "decimal , 50%", "mixed-decimal-marks",
    ]
    assert rows["Closed"] == [
        "Closed", "100.0", "5", "01.04.2021 (1)", "dd.mm.yyyy 80%", "ambiguous-dates",
    ]
    text = " ".join(result.stdout.split())
    assert (
        "Amount: numbers use both decimal marks: 1 with '.' (e.g. '1,234.50') and 3 with ',' "
        "(e.g. '1.234,50');" in text
    )
    assert "Closed: dates come in 2 patterns: nn.nn.yyyy (4), nn/nn/yyyy (1);" in text
    assert (
        f"read {deals_csv} as csv; encoding utf-8 (detected, confidence 1.00); delimiter ';' "
        "(semicolon) (detected); header row 1 (detected); 5 rows" in text
    )
    assert result.stderr == ""


def test_profile_json_has_exact_numbers_and_nothing_else_on_stdout(deals_csv):
    result = run("profile", str(deals_csv), "--json", "--top", "1", "--delimiter", ";")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows"] == 5
    assert data["extract"]["delimiter"] == ";"
    assert data["extract"]["delimiter_forced"] is True
    assert [c["name"] for c in data["columns"]] == ["Deal", "Amount", "Closed"]
    amount = data["columns"][1]
    counts = ("rows", "filled", "blank", "missing", "fill_rate", "distinct")
    assert {k: amount[k] for k in counts} == {
        "rows": 5, "filled": 4, "blank": 0, "missing": 1, "fill_rate": 0.8, "distinct": 4,
    }
    assert amount["decimal_marks"] == {",": 3, ".": 1}
    assert [w["code"] for w in amount["warnings"]] == ["mixed-decimal-marks"]
    deal = data["columns"][0]
    assert deal["top"] == [{"value": "D1", "count": 2}]
    closed = data["columns"][2]
    assert [(d["pattern"], d["order"], d["rows"], d["day_first"]) for d in closed["dates"]] == [
        ("nn.nn.yyyy", "day-first", 4, 1),
        ("nn/nn/yyyy", "ambiguous", 1, 0),
    ]


def test_profile_of_a_missing_file_exits_2_with_one_line(tmp_path):
    missing = tmp_path / "nope.csv"

    result = run("profile", str(missing))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"crmmigrate: error: {missing}: no such file.\n"
    assert "Traceback" not in result.output


def test_profile_has_help():
    result = run("profile", "--help")

    assert result.exit_code == 0
    assert "--top" in result.stdout
    assert "--json" in result.stdout


def test_profile_calls_a_date_in_neither_order_invalid_not_ambiguous(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_text("Deal;Closed\nD1;32/13/2020\nD2;31/02/2021\n", encoding="cp1252")

    result = run("profile", str(path))

    assert result.exit_code == 0, result.output
    assert "ambiguous" not in result.stdout
    assert ("Closed: 2 value(s) look like nn/nn/yyyy but are no date in any reading "
            "(e.g. '31/02/2021').") in result.stdout
