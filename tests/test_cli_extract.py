"""`crmmigrate extract` as a user runs it: exit codes, the summary, the files written."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app
from crmmigrate.model import PROVENANCE

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def accounts_csv(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes(
        "Report: accounts\n\nAccountID;Name;City\nA1;ООО Ромашка;Москва\nA2;Acme;Berlin;oops\n"
        "A3;Globex;Paris\n".encode("cp1251")
    )
    return path


def test_extract_writes_parquet_rejects_and_a_summary(tmp_path, accounts_csv):
    out = tmp_path / "staged" / "accounts.parquet"

    result = run("extract", str(accounts_csv), "-o", str(out))

    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert any(line.startswith("encoding   cp1251 (detected, confidence 0.") for line in lines)
    assert "delimiter  ';' (semicolon) (detected)" in lines
    assert "header     row 3 (detected); 1 row(s) above it skipped" in lines
    assert "rows       2" in lines
    assert "columns    3: AccountID, Name, City" in lines
    rejects = tmp_path / "staged" / "accounts.rejects.csv"
    assert f"rejected   1 -> {rejects}" in lines
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["AccountID", "Name", "City", *PROVENANCE]
    assert frame["Name"].tolist() == ["ООО Ромашка", "Globex"]
    assert frame["_row"].tolist() == ["4", "6"]
    rejected = pd.read_csv(rejects, dtype=str)
    assert rejected.to_dict("records") == [
        {"_source": "accounts", "_file": str(accounts_csv), "_row": "5",
         "reason": "expected 3 fields, found 4", "raw": "A2;Acme;Berlin;oops"}
    ]


def test_extract_to_csv_with_forced_choices_and_source_name(tmp_path, accounts_csv):
    out = tmp_path / "staged" / "accounts.csv"  # not the source itself, which is refused

    result = run(
        "extract", str(accounts_csv), "-o", str(out), "--encoding", "cp1251",
        "--delimiter", ";", "--header-row", "3", "--name", "oldcrm",
    )

    assert result.exit_code == 0, result.output
    assert "encoding   cp1251 (forced)" in result.stdout
    assert "header     row 3 (forced)" in result.stdout
    frame = pd.read_csv(out, dtype=str, encoding="utf-8")
    assert frame["_source"].unique().tolist() == ["oldcrm"]
    assert frame["City"].tolist() == ["Москва", "Paris"]


def test_a_clean_source_still_writes_an_empty_rejects_file(tmp_path):
    src = tmp_path / "c.csv"
    src.write_text("Id,Name\n1,Ann\n", encoding="utf-8")
    out = tmp_path / "c.parquet"

    result = run("extract", str(src), "-o", str(out))

    assert result.exit_code == 0
    assert "rejected   0" in result.stdout
    assert (tmp_path / "c.rejects.csv").read_text() == "_source,_file,_row,reason,raw\n"


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["missing.csv"], "missing.csv: no such file."),
        (b"", ["empty.csv"], "empty.csv: the file is empty (0 bytes)."),
        (b"SQLite format 3\x00" + bytes(range(256)) * 4, ["bin.csv"], "this is a binary file, a SQLite database"),
        (b"Id,Name\n1,Ren\xe9e\n", ["bad.csv", "--encoding", "utf-8"],
         "bad.csv, line 2: byte(s) e9 at byte offset 13 do not decode as utf-8."),
        (b"Id,Name\n1,Ann\n", ["ok.csv", "--delimiter", "ab"], "--delimiter: Value error, a delimiter is one character"),
        (b"Id,Name\n1,Ann\n", ["ok.csv", "--format", "xml"], "--format: Input should be 'csv', 'excel', 'json', 'jsonl', 'sql' or 'parquet'"),
        (b"Id,Name\n1,Ann\n", ["ok.xls"], "ok.xls: this is a legacy binary .xls workbook"),
    ],
    ids=["missing", "empty", "binary", "undecodable", "delimiter", "format", "xls"],
)
def test_bad_input_is_one_clear_message_and_exit_2(tmp_path, monkeypatch, setup, args, message):
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        (tmp_path / args[0]).write_bytes(setup)

    result = run("extract", *args, "-o", "out.parquet")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("crmmigrate: error: ")
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.parquet").exists()


def test_an_output_that_is_not_parquet_or_csv_is_a_usage_error(tmp_path):
    src = tmp_path / "c.csv"
    src.write_text("Id\n1\n", encoding="utf-8")

    result = run("extract", str(src), "-o", str(tmp_path / "out.xlsx"))

    assert result.exit_code == 2
    assert "the output must end in .parquet or .csv" in result.stderr


def test_verbose_shows_the_traceback(tmp_path):
    result = run("extract", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.csv"), "--verbose")

    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "InputNotFound" in result.stderr


def test_every_command_has_help_text():
    result = run("--help")
    assert result.exit_code == 0
    assert app.registered_commands
    commands = [((c.name,), c) for c in app.registered_commands]
    for group in app.registered_groups:
        assert group.name in result.stdout
        commands += [((group.name, c.name), c) for c in group.typer_instance.registered_commands]
    for names, command in commands:
        sub = run(*names, "--help")
        assert sub.exit_code == 0, names
        assert (command.callback.__doc__ or "").strip(), f"{' '.join(names)} has no help text"
        assert names[0] in result.stdout


def test_the_package_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "crmmigrate", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("crmmigrate ")
