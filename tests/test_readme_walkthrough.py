"""The README's "Migrating your own exports" walkthrough, run as written.

Every `$ command` line of the console blocks between the walkthrough markers is run in order,
in one shell, from a folder holding a copy of examples/exports/, with `crmmigrate` on the PATH.
Each output line the README shows under a command (other than `...`) must be among the lines
the command printed (`...` inside a line stands for a part that differs by machine, such as
where crmmigrate is installed), so the README shows real output. Then the outcomes are checked.

Regenerate the example exports with `python examples/exports/generate.py` (deterministic).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
EXPORTS = ROOT / "examples" / "exports"


def steps(text: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines shown under it) for each `$ ` line of the section's console blocks."""
    section = text[text.index(START):text.index(END)]
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found:
                found[-1][1].append(line)
    return found


def shown(line: str) -> re.Pattern[str]:
    """A README output line as a pattern: `...` inside it stands for what differs by machine (a path)."""
    return re.compile(".*".join(re.escape(part) for part in line.rstrip().split("...")))


def run_walkthrough(folder: Path) -> list[tuple[str, list[str], list[str]]]:
    """Run the walkthrough in `folder`: per command, the lines shown and the lines printed."""
    shutil.copytree(EXPORTS, folder / "examples" / "exports")
    shown = steps(README.read_text(encoding="utf-8"))
    script = ["exec 2>&1"]  # what a user sees: warnings and notes too
    for number, (command, _) in enumerate(shown):
        # The marker keeps the command's status for a following `echo $?`.
        script.append(f"{command}\n__status=$?\necho '@@step {number}'\n(exit $__status)")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=folder, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=600)
    printed = re.split(r"^@@step \d+\n", done.stdout, flags=re.M)
    assert len(printed) == len(shown) + 1, done.stdout + done.stderr
    return [(command, expected, actual.splitlines()) for (command, expected), actual in
            zip(shown, printed, strict=False)]


def test_the_walkthrough_runs_as_written_and_ends_as_it_says(tmp_path: Path):
    results = run_walkthrough(tmp_path)
    commands = [command for command, _, _ in results]
    assert commands[0] == "crmmigrate init shop --from examples/exports"
    for command, expected, actual in results:
        printed = [line.rstrip() for line in actual]  # tables pad their lines; the README does not
        missing = [line for line in expected if line.strip() != "..." and not any(
            shown(line).fullmatch(p) for p in printed)]
        assert not missing, f"`{command}` did not print:\n" + "\n".join(missing) + "\n\nit printed:\n" + \
            "\n".join(actual)

    # The project: every export a source, with its entity and the region its numbers are in.
    config = yaml.safe_load((tmp_path / "shop" / "migration.yaml").read_text(encoding="utf-8"))
    regions = {Path(s["location"]).name: s.get("phone_region") for s in config["sources"]}
    assert regions == {"accounts.csv": "DE", "kontakte.csv": "DE", "leads.xlsx": "US", "cases.jsonl": None}
    assert not (tmp_path / "shop" / "examples").exists() and not (tmp_path / "shop" / "rules").exists()
    # The run loaded every record: the one picklist value the drafts left to fill in was filled in.
    with sqlite3.connect(tmp_path / "shop" / "migration.db") as db:
        counts = dict(db.execute("SELECT entity, count(*) FROM id_map WHERE status = 'loaded' GROUP BY entity"))
    assert counts == {"account": 20, "contact": 60, "lead": 30, "case": 40}


def test_the_example_exports_are_what_their_generator_writes(tmp_path: Path):
    subprocess.run([sys.executable, str(EXPORTS / "generate.py"), str(tmp_path)], check=True)
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (EXPORTS / path.name).read_bytes(), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in EXPORTS.iterdir() if p.name != "generate.py")


if __name__ == "__main__":  # print what the walkthrough prints, to write the README from
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for command, _, actual in run_walkthrough(Path(scratch)):
            print(f"$ {command}")
            print("\n".join(actual))
