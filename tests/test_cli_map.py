"""`crmmigrate map` as a user runs it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app

runner = CliRunner()

MAPPING = """\
entity: account
source: {encoding: cp1251, delimiter: ";"}
fields:
  id: AccountID
  name: {from: Name, transforms: [collapse]}
  industry: {from: Industry, transforms: [{map: {values: {ИТ: Technology}}}]}
  created_at: {from: Created, transforms: [{date: {formats: ["%d.%m.%Y"]}}]}
where:
  - {name: since 2015, field: created_at, op: ">=", value: "2015-01-01"}
drop: [Owner]
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "accounts.csv").write_bytes(
        "AccountID;Name;Industry;Created;Owner;Fax\n"
        "A1;ООО  «Ромашка»;ИТ;01.02.2019;Иванов;123\n"
        "A2;Globex;Retail;31.02.2019;Petrov;\n"
        "A3;Initech;ИТ;05.06.2010;Petrov;\n".encode("cp1251")
    )
    (tmp_path / "accounts.yaml").write_text(MAPPING, encoding="utf-8")
    return tmp_path


def test_map_writes_canonical_records_filtered_records_and_a_summary(project):
    out = project / "out" / "accounts.parquet"

    result = runner.invoke(app, ["map", str(project / "accounts.csv"), "-m",
                                 str(project / "accounts.yaml"), "-o", str(out)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"source    {project / 'accounts.csv'} (3 rows read)" in lines
    assert f"records   2 -> {out}" in lines
    assert f"filtered  1 -> {project / 'out' / 'accounts.filtered.csv'}" in lines
    assert "          since 2015: 1" in lines
    assert "invalid   1 value(s) kept as they were, listed in _issues" in lines
    assert ("          created_at: 1 date: is not a date: day 31 does not exist in February 2019 "
            "(read as DD.MM.YYYY) (e.g. row 3: '31.02.2019')") in lines
    assert not [line for line in lines if line.startswith("unmapped")]  # 'Retail' is an allowed industry
    assert "does not mention column(s) 'Fax'" in result.stderr
    frame = pd.read_parquet(out)
    assert frame[["id", "name", "industry", "created_at", "_row"]].values.tolist() == [
        ["A1", "ООО «Ромашка»", "Technology", "2019-02-01", "2"],
        ["A2", "Globex", "Retail", "31.02.2019", "3"],
    ]
    assert json.loads(frame["_custom"][0]) == {"Fax": "123"}
    filtered = pd.read_csv(project / "out" / "accounts.filtered.csv", dtype=str)
    assert filtered.to_dict("records") == [{
        "_source": "accounts", "_file": str(project / "accounts.csv"), "_row": "4", "id": "A3",
        "status": "filtered", "reason": "since 2015"}]


def test_a_staged_extract_maps_with_its_original_provenance(project):
    staged = project / "staged.parquet"
    extracted = runner.invoke(app, ["extract", str(project / "accounts.csv"), "-o", str(staged)])
    assert extracted.exit_code == 0, extracted.output

    result = runner.invoke(app, ["map", str(staged), "-m", str(project / "accounts.yaml"),
                                 "-o", str(project / "mapped.parquet")])

    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(project / "mapped.parquet")
    assert frame["_row"].tolist() == ["2", "3"]
    assert frame["_file"].unique().tolist() == [str(project / "accounts.csv")]


def test_a_mistake_in_the_mapping_is_exit_2_with_file_line_and_suggestion(project):
    (project / "bad.yaml").write_text(MAPPING.replace("transforms: [collapse]", "tranforms: [collapse]"),
                                      encoding="utf-8")

    result = runner.invoke(app, ["map", str(project / "accounts.csv"), "-m", str(project / "bad.yaml"),
                                 "-o", str(project / "o.parquet")])

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert message.startswith(f"crmmigrate: error: {project / 'bad.yaml'}, line 5: unknown key 'tranforms' "
                              "(did you mean 'transforms'?)")
    assert "Traceback" not in result.stderr
    assert not (project / "o.parquet").exists()


def test_a_source_column_the_mapping_names_but_the_file_lacks_is_exit_2(project):
    (project / "bad.yaml").write_text(MAPPING.replace("id: AccountID", "id: Account_ID"), encoding="utf-8")

    result = runner.invoke(app, ["map", str(project / "accounts.csv"), "-m", str(project / "bad.yaml"),
                                 "-o", str(project / "o.parquet")])

    assert result.exit_code == 2
    assert "line 4: the source has no column 'Account_ID' (did you mean 'AccountID'?)" in " ".join(result.stderr.split())


def test_command_line_source_options_override_the_mapping(project):
    result = runner.invoke(app, ["map", str(project / "accounts.csv"), "-m", str(project / "accounts.yaml"),
                                 "--encoding", "utf-8", "-o", str(project / "o.parquet")])

    assert result.exit_code == 2
    assert "do not decode as utf-8" in result.stderr


def test_missing_mapping_file_is_exit_2(project):
    result = runner.invoke(app, ["map", str(project / "accounts.csv"), "-m", str(project / "nope.yaml"),
                                 "-o", str(project / "o.parquet")])

    assert result.exit_code == 2
    assert "nope.yaml: no such file." in result.stderr


def test_the_mappings_raw_source_options_do_not_apply_to_a_staged_file(project):
    staged = project / "staged.parquet"
    assert runner.invoke(app, ["extract", str(project / "accounts.csv"), "-o", str(staged)]).exit_code == 0
    (project / "json.yaml").write_text(MAPPING.replace("source: {encoding: cp1251, delimiter: \";\"}",
                                                       "source: {format: json, name: oldcrm}"),
                                       encoding="utf-8")

    result = runner.invoke(app, ["map", str(staged), "-m", str(project / "json.yaml"),
                                 "-o", str(project / "mapped.parquet")])

    assert result.exit_code == 0, result.output
    assert pd.read_parquet(project / "mapped.parquet")["_source"].unique().tolist() == ["oldcrm"]


DEALS = """\
entity: opportunity
source: {delimiter: ";"}
fields:
  id: DealNo
  name: Title
  stage: {value: Prospecting}
  close_date: {from: Close, transforms: [{date: {formats: ["%d.%m.%Y"]}}]}
"""


def test_map_gives_each_kind_of_invalid_value_its_own_example(tmp_path):
    (tmp_path / "deals.csv").write_bytes("DealNo;Title;Close\nD1;A;31.02.2021\nD2;B;32/13/2020\n"
                                         "D3;C;01.04.2021\n".encode("cp1252"))
    (tmp_path / "deals.yaml").write_text(DEALS, encoding="utf-8")

    result = runner.invoke(app, ["map", str(tmp_path / "deals.csv"), "-m", str(tmp_path / "deals.yaml"),
                                 "-o", str(tmp_path / "deals.parquet")])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert ("          close_date: 1 date: is not a date: day 31 does not exist in February 2021 "
            "(read as DD.MM.YYYY) (e.g. row 2: '31.02.2021')") in lines
    assert ("          close_date: 1 date: is not a date in the format(s) %d.%m.%Y "
            "(e.g. row 3: '32/13/2020')") in lines


def test_map_lists_as_unmapped_only_values_not_allowed_after_the_mapping(tmp_path):
    (tmp_path / "deals.csv").write_bytes("DealNo;Title;Stage;Close\nD1;A;prospecting;01.04.2021\n"
                                         "D2;B;Qualification;01.04.2021\nD3;C;closed won;01.04.2021\n"
                                         "D4;D;Won-ish;01.04.2021\n".encode("cp1252"))
    (tmp_path / "deals.yaml").write_text(DEALS.replace(
        "stage: {value: Prospecting}", "stage: {from: Stage, transforms: [{map: {values: {closed won: Closed Won}}}]}"),
        encoding="utf-8")

    result = runner.invoke(app, ["map", str(tmp_path / "deals.csv"), "-m", str(tmp_path / "deals.yaml"),
                                 "-o", str(tmp_path / "deals.parquet")])

    assert result.exit_code == 0, result.output
    assert "unmapped  stage: 'prospecting' (1), 'Won-ish' (1)" in result.stdout.splitlines()
