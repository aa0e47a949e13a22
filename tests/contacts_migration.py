"""A migration of generated contacts, for the tests that run one end to end against a target
(resuming a killed run, two runs at once): the files written the same way for each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def write_contacts_migration(folder: Path, target: str, rows: int, *,
                             last_name: Callable[[int], str] = lambda i: f"Name{i}", where: str = "",
                             bulk_rows: int = 0) -> Path:
    """contacts.csv of `rows` contacts (C-i, First{i}, last_name(i), person{i}@example.com), its
    mapping contacts.yaml (`where`: the YAML lines of its filters, if any) and migration.yaml
    loading them into `target` in batches of 500; the config's path."""
    with (folder / "contacts.csv").open("w", encoding="utf-8") as f:
        f.write("ContactID,First,Last,Email\n")
        for i in range(rows):
            f.write(f"C-{i},First{i},{last_name(i)},person{i}@example.com\n")
    (folder / "contacts.yaml").write_text(
        "entity: contact\nfields:\n  id: ContactID\n  first_name: First\n  last_name: Last\n  email: Email\n"
        + (f"where:\n{where}" if where else ""), encoding="utf-8")
    config = folder / "migration.yaml"
    config.write_text(f"target: {target}\nbatch_rows: 500\nbulk_rows: {bulk_rows}\n"
                      "sources:\n  - {location: contacts.csv, mapping: contacts.yaml}\n", encoding="utf-8")
    return config
