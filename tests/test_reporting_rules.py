"""rules/reports.yaml, the gate on the report's metrics, and picklist variants as a function."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmmigrate.config import BadConfig
from crmmigrate.defaults import RULES_DIR
from crmmigrate.errors import BadUsage
from crmmigrate.reporting.gate import judge
from crmmigrate.reporting.metrics import METRICS
from crmmigrate.reporting.rules import Limit, PicklistRules, ReportRules, load_report_rules
from crmmigrate.reporting.sections.picklists import spelling_key, variants


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reports.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_says_what_the_defaults_are():
    # Every key is optional, so a project's file may leave any out: the model's defaults must
    # be the shipped file's, or leaving a key out would change it.
    assert load_report_rules(RULES_DIR / "reports.yaml") == ReportRules()


def test_a_projects_own_file_is_found_before_the_shipped_one(tmp_path):
    (tmp_path / "rules").mkdir()
    write(tmp_path / "rules", "examples: 2\n")
    assert load_report_rules(project=tmp_path).examples == 2
    assert load_report_rules(project=tmp_path / "elsewhere").examples == 5


def test_a_partial_file_keeps_the_other_defaults(tmp_path):
    rules = load_report_rules(write(tmp_path, "opportunity:\n  closed_won: [Won, Gewonnen]\n"))
    assert rules.opportunity.closed_won == ["Won", "Gewonnen"]
    assert rules.opportunity.closed_lost == ["Closed Lost"]
    assert rules.opportunity.expected("Gewonnen") == 100
    assert rules.opportunity.expected("Closed Won") == 100  # still named in stage_probability
    assert rules.opportunity.expected("Unheard Of") is None


@pytest.mark.parametrize("text, line, message", [
    ("opportunity:\n  stage_probability: {Prospecting: 110}\n", 2,
     "opportunity.stage_probability.Prospecting: a probability is between 0 and 100, not 110.0"),
    ("opportunity:\n  closed_won: [Done]\n  closed_lost: [Done]\n", 3, "'Done' is both won and lost"),
    ("case:\n  age_days: [30, 7]\n", 2, "age buckets are day counts above 0, in ascending order"),
    ("opportunity:\n  quarter_end_days: 40\n", 2, "less than or equal to 30"),
    ("fail_on:\n  case.open_count: {min: 1, max: 2}\n", 2, "give one of min: or max:"),
    ("fail_on:\n  opportunity.past_due_share: {max: 5}\n", 2, "a share is between 0 and 1"),
    ("picklists:\n  exact_spelling: [ownr]\n", 2, "no entity has a field 'ownr'"),
    ("fail_on: [1, 2\n", 1, "not valid YAML"),
])
def test_bad_rules_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(BadConfig) as caught:
        load_report_rules(path)
    assert caught.value.file == str(path)
    assert caught.value.line == line
    assert message in caught.value.message


def test_fail_on_from_the_command_line_takes_the_metrics_direction():
    rules = ReportRules().with_fail_on(["lead.known_contact_share=10%", "opportunity.primary_role_coverage=0.3",
                                        "opportunity.past_due_share=0.05"])
    assert rules.fail_on["lead.known_contact_share"] == Limit(max=0.1)
    assert rules.fail_on["opportunity.primary_role_coverage"] == Limit(min=0.3)
    assert rules.fail_on["opportunity.past_due_share"] == Limit(max=0.05)  # replaced
    assert rules.fail_on["account.hierarchy_cycles"] == Limit(max=0)  # kept


@pytest.mark.parametrize("item, message", [
    ("opportunity.past_due_share", "write METRIC=LIMIT"),
    ("opportunity.past_due_share=lots", "'lots' is not a number"),
    ("opportunity.past_due_share=150%", "a share is between 0 and 1"),
    ("account.hierarchy_cycles=10%", "a count is a number of 0 or more"),
    ("pipeline.past_due=1%", "unknown metric 'pipeline.past_due'"),
])
def test_bad_fail_on_items_are_bad_usage(item, message):
    with pytest.raises(BadUsage) as caught:
        ReportRules().with_fail_on([item])
    assert message in str(caught.value)


def test_the_gate_judges_floors_ceilings_and_metrics_it_could_not_compute():
    limits = {"opportunity.contact_role_coverage": Limit(min=0.5), "opportunity.past_due_share": Limit(max=0.01),
              "account.hierarchy_cycles": Limit(max=0), "case.open_count": Limit(max=10, required=True)}
    checks = judge({"opportunity.contact_role_coverage": 0.5, "opportunity.past_due_share": 0.02}, limits)
    assert [(c.metric, c.value, c.op, c.passed) for c in checks] == [
        ("opportunity.contact_role_coverage", 0.5, "min", True),  # at the limit passes
        ("opportunity.past_due_share", 0.02, "max", False),
        ("account.hierarchy_cycles", None, "max", True),  # not computed, not required
        ("case.open_count", None, "max", False),  # not computed, required
    ]


def test_every_metric_says_which_way_is_better():
    assert all(m.direction in ("min", "max") and m.meaning for m in METRICS.values())


RULES = PicklistRules()


def test_variants_by_case_spacing_punctuation_and_one_edit():
    counts = {"Closed Won": 40, "closed won": 3, "Closed-Won ": 2, "Clsoed Won": 1, "Closed Lost": 30,
              "Negotiation": 10, "Low": 5, "Lew": 1}
    found = variants(counts, allowed=("Closed Won", "Closed Lost", "Negotiation"), rules=RULES)
    assert [(v.value, v.rows, v.variant_of) for v in found] == [
        ("closed won", 3, "Closed Won"), ("Closed-Won ", 2, "Closed Won"), ("Clsoed Won", 1, "Closed Won")]
    # 'Lew' is a letter from 'Low', but both are shorter than min_length: not compared by edits.


def test_the_allowed_value_is_the_one_meant_even_when_rarer():
    found = variants({"closed won": 9, "Closed Won": 1}, allowed=("Closed Won",), rules=RULES)
    assert [(v.value, v.variant_of) for v in found] == [("closed won", "Closed Won")]
    found = variants({"closed won": 9, "Closed Won": 1}, rules=RULES)
    assert [(v.value, v.variant_of) for v in found] == [("Closed Won", "closed won")]


def test_names_a_letter_apart_are_not_variants_where_only_spelling_counts():
    counts = {"Petrov A.": 10, "Petrov B.": 8, "petrov a": 1}
    found = variants(counts, rules=RULES, by_spelling=False)
    assert [(v.value, v.variant_of) for v in found] == [("petrov a", "Petrov A.")]
    assert len(variants(counts, rules=RULES)) == 2  # by edits, B. would be taken for A.


def test_spelling_key():
    assert spelling_key(" Closed-Won ") == spelling_key("closed_won") == "closedwon"
    assert spelling_key("Иванова Е.") == "иванова" + "е"


def test_the_shipped_stages_are_those_validation_allows():
    from crmmigrate.validate import load_rules

    stages = set(load_rules().choices("opportunity", "stage"))
    rules = ReportRules()
    assert set(rules.opportunity.closed) <= stages
    assert set(rules.opportunity.stage_probability) == stages
