"""The options that say how to read a source are defined once (extract.base.ReadOptions): a
`Source` is them plus where it is, a mapping's `source:` block is them (a staged parquet file
aside), and every command that reads a source offers each of them as an option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer.main

from crmmigrate.cli import app
from crmmigrate.config import BadConfig
from crmmigrate.extract import ReadOptions, Source
from crmmigrate.mapping.config import SourceOptions, load_mapping

FIELDS = list(ReadOptions.model_fields)


def _commands(group: Any, path: str = "") -> dict[str, Any]:
    """Every command of the CLI by its path (`mapping suggest`), groups included."""
    found = {path: group}
    for name, command in getattr(group, "commands", {}).items():
        found.update(_commands(command, f"{path} {name}".strip()))
    return found


def test_a_source_and_a_mappings_source_block_are_the_read_options() -> None:
    assert list(Source.model_fields) == [*FIELDS, "location", "chunk_rows"]
    assert list(SourceOptions.model_fields) == FIELDS
    assert "parquet" not in str(SourceOptions.model_fields["format"].annotation)


def test_a_migration_source_entry_is_the_read_options_and_where_the_source_goes() -> None:
    from crmmigrate.migration import SourceEntry

    assert issubclass(SourceEntry, ReadOptions)
    assert set(SourceEntry.model_fields) == {*FIELDS, "location", "mapping", "phone_region"}
    assert list(SourceEntry.model_fields)[:2] == ["location", "mapping"]  # first in messages


def test_every_command_that_reads_a_source_offers_every_read_option() -> None:
    reading = {}
    for path, command in _commands(typer.main.get_command(app)).items():
        options = {p.name: p for p in command.params if p.name in FIELDS}
        if options:
            reading[path] = options
    assert {"extract", "profile", "map", "mapping suggest"} <= set(reading)
    for path, options in reading.items():
        assert sorted(options) == sorted(FIELDS), path
        for name, option in options.items():
            assert option.opts == [f"--{name.replace('_', '-')}"], (path, name)
            assert option.help, (path, name)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("  delimiter: ab\n", "a delimiter is one character (or tab), not 'ab'"),
        ("  header_row: -1\n", "greater than or equal to 0"),
    ],
)
def test_a_mappings_source_block_is_checked_as_the_command_line_is(tmp_path: Path, block: str,
                                                                    message: str) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(f"entity: contact\nsource:\n  encoding: cp1252\n{block}fields:\n  id: Id\n", encoding="utf-8")
    with pytest.raises(BadConfig) as caught:
        load_mapping(path)
    assert message in str(caught.value)
    assert caught.value.file == str(path)
    assert caught.value.line == 4


def test_a_delimiter_named_in_a_mapping_is_read_as_its_character(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("entity: contact\nsource:\n  delimiter: semicolon\nfields:\n  id: Id\n", encoding="utf-8")
    assert load_mapping(path).source.given() == {"delimiter": ";"}
