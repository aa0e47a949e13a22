"""crmmigrate as a user installs it, not as the checkout runs it: an sdist and a wheel built from
it, the wheel installed into a fresh venv and run from a folder outside the repository. It must
find its default rules and `init` must write a project that runs.

The fresh venv borrows the test interpreter's installed dependencies through a .pth file, so no
dependency is downloaded; only `build` (and the setuptools it builds with) come from the package
index. .ci/run installs the wheel with its dependencies resolved from the index as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "crmmigrate" / "defaults"
TIMEOUT = 300  # seconds for any one step; a build or a run of the samples takes a few
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "demo", "runs", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".hypothesis", "bench")


@dataclass
class Installed:
    bin: Path
    sdist: Path
    wheel: Path
    env: dict[str, str]
    rules_dir: Path  # where the installed crmmigrate's default rules are


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(map(str, args))} took over {TIMEOUT} s; output so far: {exc.stdout}{exc.stderr}")


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{' '.join(map(str, done.args))} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], work)
    if made.returncode != 0 or not (venv / "bin" / "python").exists():
        pytest.skip(f"cannot create a venv here: {made.stderr.strip() or made.stdout.strip()}")
    python = str(venv / "bin" / "python")

    # A copy of the source tree, so the build writes nothing into the checkout.
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    _ok(_run([python, "-m", "pip", "install", "--quiet", "build"], work))
    dist = work / "dist"
    _ok(_run([python, "-m", "build", "--outdir", str(dist), str(source)], work))  # the wheel is built from the sdist
    (sdist,) = dist.glob("crmmigrate-*.tar.gz")
    (wheel,) = dist.glob("crmmigrate-*.whl")

    site = _ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work)).stdout.strip()
    borrowed = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(site) / "borrowed_dependencies.pth").write_text("".join(f"{path}\n" for path in borrowed), encoding="utf-8")
    _ok(_run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], work))

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), COLUMNS="200")
    found = _ok(_run([python, "-c", "import crmmigrate.defaults as d; print(d.__file__); print(d.RULES_DIR)"],
                     work, env)).stdout.split("\n")
    assert Path(found[0]).is_relative_to(venv), f"crmmigrate was imported from {found[0]}, not from the wheel"
    return Installed(venv / "bin", sdist, wheel, env, Path(found[1]))


def _shipped_files() -> list[str]:
    return sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_the_sdist_and_the_wheel_carry_every_shipped_file(installed):
    with tarfile.open(installed.sdist) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        in_sdist = {name.removeprefix(f"{top}/crmmigrate/defaults/") for name in sdist.getnames()}
    in_wheel = {name.removeprefix("crmmigrate/defaults/") for name in zipfile.ZipFile(installed.wheel).namelist()}
    shipped = _shipped_files()
    assert {"rules/validation.yaml", "rules/thresholds.yaml", "rules/cleaning.yaml", "rules/dedupe.yaml",
            "mappings/accounts.yaml", "samples/legacy_crm/accounts.csv"} <= set(shipped)
    assert [f for f in shipped if f not in in_sdist] == []
    assert [f for f in shipped if f not in in_wheel] == []


@pytest.fixture(scope="module")
def elsewhere(installed, tmp_path_factory) -> Path:
    """A folder outside the checkout, with a project `init` wrote from the wheel."""
    folder = tmp_path_factory.mktemp("elsewhere")
    assert not folder.is_relative_to(ROOT)
    _ok(_run(["crmmigrate", "init", "demo"], folder, installed.env))
    return folder


def _run_json(project: Path) -> dict:
    (found,) = (project / "runs").glob("*/run.json")
    return json.loads(found.read_text(encoding="utf-8"))


def test_init_from_the_wheel_writes_a_project_that_runs_and_holds_back_the_planted_errors(installed, elsewhere):
    done = _run(["crmmigrate", "run", "demo/migration.yaml"], elsewhere, installed.env)
    # 1: the gate held back the tables with planted errors, as the demo expects; not 2 (bad input).
    assert done.returncode == 1, done.stdout + done.stderr
    assert _run_json(elsewhere / "demo")["config"]["rules"] == "demo/rules/validation.yaml"


def test_a_run_whose_project_has_no_rules_uses_the_ones_the_wheel_ships(installed, elsewhere):
    bare = elsewhere / "bare"
    shutil.copytree(elsewhere / "demo", bare, ignore=shutil.ignore_patterns("runs", "*.db"))
    shutil.rmtree(bare / "rules")
    config = bare / "migration.yaml"
    text = re.sub(r"(?m)^(rules|thresholds|cleaning|dedupe):.*\n", "", config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")

    done = _run(["crmmigrate", "run", "bare/migration.yaml"], elsewhere, installed.env)

    assert done.returncode == 1, done.stdout + done.stderr
    used = _run_json(bare)["config"]
    assert installed.rules_dir.is_relative_to(installed.bin.parent)
    for key, name in (("rules", "validation.yaml"), ("thresholds", "thresholds.yaml"),
                      ("cleaning", "cleaning.yaml"), ("dedupe", "dedupe.yaml")):
        assert used[key] == str(installed.rules_dir / name)


def _validate(installed: Installed, cwd: Path, project: Path, *options: str) -> tuple[int, dict]:
    pairs = [f"{project / 'mappings' / m}.yaml={project / 'samples' / s}" for m, s in (
        ("accounts", "legacy_crm/accounts.csv"), ("contacts_crm", "legacy_crm/contacts.csv"),
        ("cases", "call_centre/cases.csv"))]
    done = _run(["crmmigrate", "validate", *pairs, "--json", "-", *options], cwd, installed.env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def test_validate_without_rules_uses_the_shipped_defaults_and_a_projects_own_win(installed, elsewhere):
    assert not (elsewhere / "rules").exists()
    default = _validate(installed, elsewhere, elsewhere / "demo")
    named = _validate(installed, elsewhere, elsewhere / "demo",
                      "--rules", str(installed.rules_dir / "validation.yaml"),
                      "--thresholds", str(installed.rules_dir / "thresholds.yaml"))
    assert default == named
    assert "case.status" not in default[1]["failed"]

    own = elsewhere / "own"
    (own / "rules").mkdir(parents=True)
    (own / "rules" / "validation.yaml").write_text(
        "entities:\n  case:\n    fields:\n      status: {choices: [No such status]}\n", encoding="utf-8")
    status, result = _validate(installed, own, elsewhere / "demo")
    assert status == 1
    assert "case.status" in result["failed"]
