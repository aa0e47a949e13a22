"""`crmmigrate validate` as CI runs it: exit codes and the machine-readable outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crmmigrate.cli import app

ROOT = Path(__file__).resolve().parent.parent
TRUTH = json.loads((ROOT / "samples" / "truth.json").read_text(encoding="utf-8"))
PAIRS = [
    ("accounts", "legacy_crm/accounts.csv"), ("contacts_crm", "legacy_crm/contacts.csv"),
    ("contacts_reps", "sales_reps/contacts.xlsx"), ("leads", "call_centre/leads.tsv"),
    ("opportunities", "legacy_crm/opportunities.json"),
    ("opportunity_contact_roles", "legacy_crm/opportunity_contact_roles.csv"),
    ("cases", "call_centre/cases.csv"), ("activities", "call_centre/activities.jsonl"),
    ("calls", "sqlite:///" + str(ROOT / "samples" / "call_centre" / "callcentre.sqlite")),
]
DATASETS = [
    f"{ROOT / 'mappings' / 'samples' / m}.yaml={s if '://' in s else ROOT / 'samples' / s}" for m, s in PAIRS
]
runner = CliRunner()


def test_the_samples_fail_the_gate_with_every_output_naming_the_planted_fields(tmp_path):
    out = {k: tmp_path / f"result.{k}" for k in ("json", "xml", "csv", "html")}

    result = runner.invoke(app, ["validate", *DATASETS, "--json", str(out["json"]), "--junit", str(out["xml"]),
                                 "--failures", str(out["csv"]), "--html", str(out["html"])])

    assert result.exit_code == 1, result.output
    planted = sorted(TRUTH["over_threshold"])
    assert result.stdout.splitlines()[-1] == (
        f"FAILED: 4 of 76 checks over their threshold: {', '.join(planted)}")
    assert sorted(json.loads(out["json"].read_text())["failed"]) == planted
    failed_cases = [
        f"{case.get('classname').removeprefix('crmmigrate.')}.{case.get('name')}"
        for case in ET.parse(out["xml"]).getroot().iter("testcase") if case.find("failure") is not None
    ]
    assert sorted(failed_cases) == planted
    failures = pd.read_csv(out["csv"], dtype=str)
    planted_rows = sum(x["errors"] for x in TRUTH["error_rates"])
    assert failures[["entity", "id", "field"]].drop_duplicates().shape[0] == planted_rows
    page = out["html"].read_text(encoding="utf-8")
    for name in planted:
        assert name.split(".")[1] in page


def test_threshold_overrides_let_the_gate_pass(tmp_path):
    overrides = ["account.parent_id=5%", "contact.email=0.1", "opportunity.account_id=5%",
                 "opportunity_contact_role.pointer=0.05"]

    result = runner.invoke(app, ["validate", *DATASETS, *[a for o in overrides for a in ("--threshold", o)]])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "PASSED: all 76 checks within their thresholds"


def test_json_on_stdout_is_only_json(tmp_path):
    result = runner.invoke(app, ["validate", DATASETS[0], "--json", "-"])

    assert result.exit_code == 1
    parsed = json.loads(result.stdout)
    assert parsed["failed"] == ["account.parent_id"]
    assert "FAILED" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.parquet"], "nope.parquet: no such file."),
        (["--threshold", "contact.email", "x.parquet"], "ENTITY.FIELD=RATE"),
        (["--thresholds", "missing.yaml", "x.parquet"], "missing.yaml: no such file."),
    ],
)
def test_bad_input_is_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.parquet").write_bytes(b"")

    result = runner.invoke(app, ["validate", *args])

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_a_canonical_dataset_is_exit_2(tmp_path):
    extracted = tmp_path / "raw.parquet"
    assert runner.invoke(app, ["extract", str(ROOT / "samples" / "legacy_crm" / "accounts.csv"),
                               "-o", str(extracted)]).exit_code == 0

    result = runner.invoke(app, ["validate", str(extracted)])

    assert result.exit_code == 2
    assert "not a canonical dataset" in result.stderr
