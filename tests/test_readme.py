"""The README stays true: its CLI reference is the real --help, its test command is CI's.

Regenerate the reference after changing a command:
    CRMMIGRATE_UPDATE_README=1 python -m pytest tests/test_readme.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from typer.testing import CliRunner

from crmmigrate.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- cli-reference:start -->", "<!-- cli-reference:end -->"


def cli_reference() -> str:
    runner = CliRunner()
    parts = []
    commands = [[c.name] for c in app.registered_commands]
    for group in app.registered_groups:
        commands.append([group.name])
        commands += [[group.name, c.name] for c in group.typer_instance.registered_commands]
    for args in [[], *commands]:
        result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "80"}, prog_name="crmmigrate")
        assert result.exit_code == 0, result.output
        title = " ".join(["crmmigrate", *args])
        parts.append(f"### `{title}`\n\n```text\n{result.stdout.rstrip()}\n```\n")
    return "\n".join(parts)


def test_cli_reference_is_the_real_help():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text
    begin, end = text.index(START) + len(START), text.index(END)
    current = text[begin:end].strip("\n")
    expected = cli_reference().strip("\n")
    if os.environ.get("CRMMIGRATE_UPDATE_README") and current != expected:
        README.write_text(f"{text[:begin]}\n{expected}\n{text[end:]}", encoding="utf-8")
        current = expected
    assert current == expected, "README CLI reference is stale; see this module's docstring"


def test_ci_runs_the_test_command_the_readme_gives():
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ".venv/bin/python -m pytest"
    assert re.search(rf"^{re.escape(command)}$", readme, re.M), "README lost its test command"
    assert re.search(rf"^{re.escape(command)}$", ci, re.M), ".ci/run does not run it"


def test_the_full_mapping_example_runs_on_the_sample_it_names(tmp_path):
    from crmmigrate.extract import Source, open_source
    from crmmigrate.mapping.config import load_mapping
    from crmmigrate.mapping.engine import map_frame

    text = README.read_text(encoding="utf-8")
    block = text[text.index("```yaml\nentity: contact") + len("```yaml\n") :]
    block = block[: block.index("```")]
    path = tmp_path / "example.yaml"
    path.write_text(block, encoding="utf-8")
    mapping = load_mapping(path)
    extracted = open_source(
        Source(location=str(ROOT / "samples" / "sales_reps" / "contacts.xlsx"), sheet="Contacts")
    ).read()

    result = map_frame(mapping, extracted, base=ROOT / "mappings")

    assert result.report.unmentioned == []
    assert result.report.rows_out + sum(result.report.filtered.values()) == len(extracted) == 200
    # Every company named in the sheet is found among the legacy accounts by the lookup.
    assert "account_id" not in result.report.invalid
    named = extracted["Company"].notna().to_numpy()
    assert result.frame["account_id"][named].str.fullmatch(r"\d{4}").all()
    assert result.frame["created_at"].str.match(r"^\d{4}-\d{2}-\d{2}$").mean() > 0.9
