"""The files crmmigrate ships inside its package, so a wheel install has them too.

    rules/      the default rules: validation.yaml, thresholds.yaml, cleaning.yaml, dedupe.yaml
    samples/    the sample legacy exports `crmmigrate init` copies into a new project
    mappings/   a mapping per sample export

They are read as plain files under the package (not through a zip-capable loader), because every
config is parsed and reported by its path; a source checkout links samples/ and mappings/samples/
here, so there is one copy of each.
"""

from __future__ import annotations

from pathlib import Path

from crmmigrate.config import BadConfig

HERE = Path(__file__).resolve().parent
RULES_DIR = HERE / "rules"
SAMPLES_DIR = HERE / "samples"
SAMPLE_MAPPINGS_DIR = HERE / "mappings"


def rules_file(name: str, project: Path | str = "") -> Path:
    """`rules/<name>` of a migration project (the working directory, or `project`, e.g. the
    folder of migration.yaml) when it has one, else the default crmmigrate ships."""
    own = Path(project) / "rules" / name
    if own.is_file():
        return own
    shipped = RULES_DIR / name
    if shipped.is_file():
        return shipped
    raise BadConfig(
        f"no rules file {name!r}: looked for the project's own {own} and for the default "
        f"crmmigrate ships, {shipped}; neither exists.",
        hint=f"Write {own}, pass the file explicitly, or reinstall crmmigrate.",
    )
