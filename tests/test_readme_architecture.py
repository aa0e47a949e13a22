"""The README's Architecture section names only modules that exist, so a module renamed or
moved without the README fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PATH = re.compile(r"crmmigrate/[A-Za-z0-9_/.]*[A-Za-z0-9_/]")


def architecture_section() -> str:
    text = README.read_text(encoding="utf-8")
    assert "\n## Architecture\n" in text, "README lost its Architecture section"
    section = text.split("\n## Architecture\n", 1)[1]
    return section.split("\n## ", 1)[0]


def module_paths(section: str) -> list[str]:
    return sorted(set(PATH.findall(section)))


def test_extracts_the_paths_a_section_names():
    text = "owned by `crmmigrate/model.py` and `crmmigrate/dedupe/`; crmmigrate/cli/terminal/."
    assert module_paths(text) == ["crmmigrate/cli/terminal/", "crmmigrate/dedupe/", "crmmigrate/model.py"]


def test_every_module_the_architecture_section_names_exists():
    paths = module_paths(architecture_section())
    assert len(paths) >= 10, paths  # the section names the owner of each concept
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README Architecture names modules that do not exist: {missing}"
