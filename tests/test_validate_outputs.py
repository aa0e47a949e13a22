"""Every output of a validation result: JSON, JUnit XML, the failing values as CSV and Parquet,
the HTML page (opened in headless Chromium) and the terminal table. Results are built by hand,
so these tests do not depend on the validator."""

from __future__ import annotations

import io
import json
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from crmmigrate.cli.terminal.validate import validation_table
from crmmigrate.errors import OutputError
from crmmigrate.validate.outputs import (
    check_summary,
    percent_pair,
    render_html,
    verdict_line,
    worst_first,
    write_failures,
    write_html,
    write_json,
    write_junit,
)
from crmmigrate.validate.result import (
    FAILURE_COLUMNS,
    Check,
    EntityResult,
    ValidationResult,
)
from tests.browser import Dom, chromium

SCRIPT = "<script>alert(1)</script>"
# Breaks out of an attribute if one is ever written unescaped, and would leave a mark if it ran.
ATTRIBUTE_BREAKER = '"><img src=x onerror="document.body.dataset.pwned=1">'
QUOTES = "O'Brien \"Bob\" <bob@@example.com>"
CYRILLIC = "иван.петров@почта"
EMOJI = "📧 bob at example 🎉"
RTL = "مرحبا@مثال"
VERTICAL_TAB = "line one\x0bline two"  # Excel's line break inside a cell; illegal in XML 1.0
SURROGATE = "caf\udce9"  # an undecodable byte kept by surrogateescape

EMAIL_SAMPLES = [
    {"value": SCRIPT, "reason": "invalid email", "row": "17"},
    {"value": QUOTES, "reason": "invalid email", "row": "42"},
    {"value": CYRILLIC, "reason": "invalid email", "row": "43"},
    {"value": EMOJI, "reason": "invalid email", "row": "99"},
    {"value": RTL, "reason": "invalid email", "row": "120"},
]


def make_result() -> ValidationResult:
    contact = EntityResult(
        entity="contact",
        rows=250,
        checks=[
            Check("contact", "id", "key", 0, 250, 0.01),
            Check("contact", "account_id", "pointer", 1, 250, 0.01,
                  samples=[{"value": "A-404", "reason": "pointer to no account", "row": "8"}],
                  reasons={"pointer to no account": 1}),
            Check("contact", "email", "general", 20, 250, 0.05, samples=EMAIL_SAMPLES,
                  reasons={"invalid email": 18, "missing": 2}),
            Check("contact", "phone", "general", 5, 250, 0.05,
                  samples=[{"value": VERTICAL_TAB, "reason": "invalid phone", "row": "3"},
                           {"value": SURROGATE, "reason": "invalid phone", "row": "4"}],
                  reasons={"invalid phone": 5}),
        ],
    )
    opportunity = EntityResult(
        entity="opportunity",
        rows=80,
        checks=[
            Check("opportunity", "name", "key", 0, 80, 0.01),
            Check("opportunity", "account_id", "pointer", 4, 80, 0.01,
                  samples=[{"value": ATTRIBUTE_BREAKER, "reason": "pointer to no account",
                            "row": "7"},
                           {"value": None, "reason": "missing", "row": "9"}],
                  reasons={"pointer to no account": 3, "missing": 1}),
            Check("opportunity", "close_date", "general", 2, 80, 0.05,
                  samples=[{"value": "31/02/2023", "reason": "not a date", "row": "11"}],
                  reasons={"not a date": 2}),
            # Far over everything else: drawn cut off at the chart's edge.
            Check("opportunity", "currency", "general", 60, 80, 0.05,
                  samples=[{"value": "€uro", "reason": "not an ISO currency", "row": "2"}],
                  reasons={"not an ISO currency": 60}),
        ],
    )
    failures = pd.DataFrame(
        [
            ("crm", "contacts.csv", 17, "contact", "C-17", "email", SCRIPT, "invalid email"),
            ("crm", "contacts.csv", 42, "contact", "C-42", "email", QUOTES, "invalid email"),
            ("crm", "contacts.csv", 43, "contact", "C-43", "email", CYRILLIC, "invalid email"),
            ("crm", "contacts.csv", 99, "contact", "C-99", "email", EMOJI, "invalid email"),
            ("crm", "contacts.csv", 120, "contact", "C-120", "email", RTL, "invalid email"),
            ("crm", "contacts.csv", 3, "contact", "C-3", "phone", "call\nme", "invalid phone"),
            ("erp", "opps.json", 9, "opportunity", "O-9", "account_id", None, "missing"),
        ],
        columns=list(FAILURE_COLUMNS),
    )
    return ValidationResult(entities=[contact, opportunity], failures=failures, notes=[NOTE])


NOTE = "case: not validated, no rules for it <yet>"
VERDICT = (
    "FAILED: 3 of 8 checks over their threshold: "
    "contact.email, opportunity.account_id, opportunity.currency"
)
EMAIL_MESSAGE = "contact.email: 8.0% invalid (20 of 250 rows) exceeds the general threshold 5.0%"


@pytest.fixture
def result() -> ValidationResult:
    return make_result()


# --- wording -------------------------------------------------------------------------------


def test_percent_pair_never_shows_different_numbers_as_equal() -> None:
    assert percent_pair(0.08, 0.05) == ("8.0%", "5.0%")
    assert percent_pair(26 / 2500, 0.01) == ("1.04%", "1.00%")
    assert percent_pair(0.01, 0.01) == ("1.0%", "1.0%")
    assert percent_pair(0.0, 0.2) == ("0.0%", "20.0%")


def test_verdict_lines(result: ValidationResult) -> None:
    assert verdict_line(result) == VERDICT
    passing = ValidationResult(
        [EntityResult("lead", 10, [Check("lead", "email", "lead", 2, 10, 0.2),
                                   Check("lead", "id", "lead", 0, 10, 0.2)])],
        pd.DataFrame(columns=list(FAILURE_COLUMNS)),
    )
    assert verdict_line(passing) == "PASSED: all 2 checks within their thresholds"
    one = ValidationResult([EntityResult("lead", 10, [Check("lead", "id", "key", 1, 10, 0.01)])],
                           pd.DataFrame())
    assert verdict_line(one) == "FAILED: 1 of 1 check over its threshold: lead.id"


def test_worst_first_sorts_by_rate_over_threshold(result: ValidationResult) -> None:
    names = [c.field for c in worst_first(result.entity("opportunity").checks)]
    # 75%/5% = 15, 5%/1% = 5, 2.5%/5% = 0.5, 0
    assert names == ["currency", "account_id", "close_date", "name"]
    zero = Check("x", "strict", "key", 1, 100, 0.0)
    assert worst_first([result.check("contact", "email"), zero])[0] is zero


# --- JSON ----------------------------------------------------------------------------------


def test_json_round_trips(result: ValidationResult, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(result, path)
    text = path.read_text(encoding="utf-8")
    assert CYRILLIC in text and EMOJI in text  # ensure_ascii=False: readable, not \u escapes
    assert text.startswith('{\n  "passed": false,')  # indent 2
    data = json.loads(text)
    assert data == result.as_dict()
    assert data["notes"] == [NOTE]
    assert data["failed"] == ["contact.email", "opportunity.account_id", "opportunity.currency"]
    email = data["entities"][0]["checks"][2]
    assert (email["errors"], email["rows"], email["rate"], email["threshold"]) == (
        20, 250, 0.08, 0.05)
    assert email["passed"] is False
    assert data["entities"][0]["checks"][3]["samples"][1]["value"] == SURROGATE


def test_json_accepts_numpy_counts(tmp_path: Path) -> None:
    # Counts computed with pandas are numpy integers.
    errors = pd.Series([1, 0, 1]).sum()
    result = ValidationResult([EntityResult("account", 3, [Check("account", "email", "general",
                                                                 errors, 3, 0.05)])], pd.DataFrame())
    write_json(result, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["entities"][0]["checks"][0]["errors"] == 2


def test_unwritable_path_is_an_output_error(result: ValidationResult, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write here"):
        write_json(result, tmp_path / "file" / "report.json")
    assert not list(tmp_path.glob("**/*.partial"))


# --- JUnit ---------------------------------------------------------------------------------


def _junit(result: ValidationResult, tmp_path: Path) -> ET.Element:
    path = tmp_path / "junit.xml"
    write_junit(result, path)
    raw = path.read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n")
    return ET.fromstring(raw)


def test_junit_suites_and_cases(result: ValidationResult, tmp_path: Path) -> None:
    root = _junit(result, tmp_path)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("8", "3", "0")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("crmmigrate.contact", "4", "1"),
        ("crmmigrate.opportunity", "4", "2"),
    ]
    assert suites[0].find("properties/property[@name='rows']").get("value") == "250"
    cases = [(c.get("classname"), c.get("name"), c.find("failure") is not None)
             for c in root.iter("testcase")]
    assert cases == [
        ("crmmigrate.contact", "id", False),
        ("crmmigrate.contact", "account_id", False),
        ("crmmigrate.contact", "email", True),
        ("crmmigrate.contact", "phone", False),
        ("crmmigrate.opportunity", "name", False),
        ("crmmigrate.opportunity", "account_id", True),
        ("crmmigrate.opportunity", "close_date", False),
        ("crmmigrate.opportunity", "currency", True),
    ]


def test_junit_failure_message_and_text(result: ValidationResult, tmp_path: Path) -> None:
    root = _junit(result, tmp_path)
    email = root.find("testsuite[@name='crmmigrate.contact']/testcase[@name='email']/failure")
    assert email.get("message") == EMAIL_MESSAGE
    assert email.text == (
        "reasons:\n"
        "  invalid email: 18 rows\n"
        "  missing: 2 rows\n"
        "sample failing values:\n"
        "  row 17: '<script>alert(1)</script>' (invalid email)\n"
        "  row 42: 'O\\'Brien \"Bob\" <bob@@example.com>' (invalid email)\n"
        "  row 43: 'иван.петров@почта' (invalid email)\n"
        "  row 99: '📧 bob at example 🎉' (invalid email)\n"
        "  row 120: 'مرحبا@مثال' (invalid email)\n"
    )
    pointer = root.find(
        "testsuite[@name='crmmigrate.opportunity']/testcase[@name='account_id']/failure")
    assert pointer.get("message") == (
        "opportunity.account_id: 5.0% invalid (4 of 80 rows) exceeds the pointer threshold 1.0%")
    assert "  row 7: '\"><img src=x onerror=\"document.body.dataset.pwned=1\">'" in pointer.text
    assert "  row 9: (missing) (missing)\n" in pointer.text
    currency = root.find(
        "testsuite[@name='crmmigrate.opportunity']/testcase[@name='currency']/failure")
    assert currency.get("message") == (
        "opportunity.currency: 75.0% invalid (60 of 80 rows) exceeds the general threshold 5.0%")


def test_junit_passing_cases_carry_their_rate(result: ValidationResult, tmp_path: Path) -> None:
    root = _junit(result, tmp_path)
    phone = root.find("testsuite[@name='crmmigrate.contact']/testcase[@name='phone']")
    assert phone.findtext("system-out") == (
        "contact.phone: 2.0% invalid (5 of 250 rows) within the general threshold 5.0%")
    assert phone.find("failure") is None


def test_junit_stays_parseable_with_characters_xml_cannot_hold(tmp_path: Path) -> None:
    failing = Check("contact", "phone", "general", 2, 2, 0.05, reasons={"invalid phone": 2},
                    samples=[{"value": VERTICAL_TAB, "reason": "invalid phone", "row": "3"},
                             {"value": SURROGATE, "reason": "invalid phone", "row": "4"}])
    root = _junit(ValidationResult([EntityResult("contact", 2, [failing])], pd.DataFrame()),
                  tmp_path)
    text = root.find(".//failure").text
    assert "  row 3: 'line one\\x0bline two' (invalid phone)\n" in text
    assert "  row 4: 'caf\\udce9' (invalid phone)\n" in text


def test_junit_has_the_structure_ci_readers_expect(result: ValidationResult,
                                                   tmp_path: Path) -> None:
    """What GitLab, Jenkins and the GitHub reporters read: counts as numbers on every suite,
    classname, name and time on every case, counts that add up, nothing else at the top."""
    root = _junit(result, tmp_path)
    counts = ("tests", "failures", "errors", "skipped")

    def numbers(element: ET.Element, names: tuple[str, ...]) -> dict[str, float]:
        for name in names:
            assert re.fullmatch(r"\d+(\.\d+)?", element.get(name, "")), (element.tag, name)
        return {name: float(element.get(name)) for name in names}

    top = numbers(root, (*counts, "time"))
    assert {child.tag for child in root} == {"testsuite"}
    totals = dict.fromkeys(counts, 0.0)
    for suite in root.findall("testsuite"):
        assert suite.get("name")
        own = numbers(suite, (*counts, "time"))
        cases = suite.findall("testcase")
        assert {child.tag for child in suite} <= {"properties", "testcase"}
        assert own["tests"] == len(cases)
        assert own["failures"] == sum(c.find("failure") is not None for c in cases)
        for case in cases:
            assert case.get("classname") == suite.get("name") and case.get("name")
            numbers(case, ("time",))
            assert {child.tag for child in case} <= {"failure", "system-out"}
            for failure in case.findall("failure"):
                assert failure.get("message") and failure.get("type") and failure.text
        for name in counts:
            totals[name] += own[name]
    assert totals == {name: top[name] for name in counts}


# --- failing values ------------------------------------------------------------------------

EXPECTED_FAILURES = [
    ["crm", "contacts.csv", "17", "contact", "C-17", "email", SCRIPT, "invalid email"],
    ["crm", "contacts.csv", "42", "contact", "C-42", "email", QUOTES, "invalid email"],
    ["crm", "contacts.csv", "43", "contact", "C-43", "email", CYRILLIC, "invalid email"],
    ["crm", "contacts.csv", "99", "contact", "C-99", "email", EMOJI, "invalid email"],
    ["crm", "contacts.csv", "120", "contact", "C-120", "email", RTL, "invalid email"],
    ["crm", "contacts.csv", "3", "contact", "C-3", "phone", "call\nme", "invalid phone"],
    ["erp", "opps.json", "9", "opportunity", "O-9", "account_id", None, "missing"],
]


def test_failures_csv(result: ValidationResult, tmp_path: Path) -> None:
    path = tmp_path / "failures.csv"
    assert write_failures(result, path) == 7
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    assert tuple(frame.columns) == FAILURE_COLUMNS
    # CSV has one spelling for missing: the empty field.
    expected = [[v if v is not None else "" for v in row] for row in EXPECTED_FAILURES]
    assert frame.values.tolist() == expected


def test_failures_parquet(result: ValidationResult, tmp_path: Path) -> None:
    path = tmp_path / "failures.parquet"
    assert write_failures(result, path) == 7
    frame = pd.read_parquet(path)
    assert tuple(frame.columns) == FAILURE_COLUMNS
    assert [[None if pd.isna(v) else v for v in row] for row in frame.values.tolist()] == (
        EXPECTED_FAILURES)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_no_failures_still_writes_the_header(suffix: str, tmp_path: Path) -> None:
    passing = ValidationResult([EntityResult("lead", 1, [Check("lead", "id", "lead", 0, 1, 0.2)])],
                               pd.DataFrame())
    path = tmp_path / f"failures{suffix}"
    assert write_failures(passing, path) == 0
    frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, dtype=str)
    assert tuple(frame.columns) == FAILURE_COLUMNS and frame.empty


# --- HTML ----------------------------------------------------------------------------------

def test_html_is_self_contained(result: ValidationResult) -> None:
    page = render_html(result)
    assert not re.search(r"https?://", page), "the page must not load or link anything remote"
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page


def test_html_escapes_every_legacy_value(result: ValidationResult) -> None:
    page = render_html(result)
    assert SCRIPT not in page and ATTRIBUTE_BREAKER not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "O&#x27;Brien &quot;Bob&quot; &lt;bob@@example.com&gt;" in page
    assert "line one\\x0bline two" in page  # the vertical tab shown, not swallowed


@pytest.mark.chromium
def test_html_in_headlesschromium(result: ValidationResult, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(result, path, title="Acme migration: validation")
    dom_html = chromium(tmp_path, "--dump-dom", path.as_uri()).stdout
    dom = Dom(dom_html)
    text = dom.joined()

    # The verdict comes first, in its own block.
    assert text.index(VERDICT) < text.index("contact") < text.index("opportunity")
    assert "Acme migration: validation" in text
    assert text.index(VERDICT) < text.index(NOTE) < text.index("entity")  # notes under it
    for entity in ("contact", "opportunity"):
        assert ("section", {"class": "entity", "id": f"entity-{entity}"}) in dom.tags
    for field in ("email", "account_id", "currency"):
        assert field in text
    # Every nasty value arrived as text...
    for value in (SCRIPT, ATTRIBUTE_BREAKER, QUOTES, CYRILLIC, EMOJI, RTL):
        assert value in text, value
    # ...and none as markup: no script or image element exists, none ran.
    tag_names = {tag for tag, _ in dom.tags}
    assert "script" not in tag_names and "img" not in tag_names
    assert SCRIPT not in dom_html and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom_html
    assert not any("data-pwned" in attrs for _, attrs in dom.tags)
    # One bar per check, failing ones red, in each entity's chart; worst first.
    bars = [attrs for tag, attrs in dom.tags if tag == "rect"]
    assert len(bars) == 8
    assert sum(attrs["fill"] == "#c62828" for attrs in bars) == 3
    opportunity_rows = text[text.index("opportunity: error rate"):]
    assert opportunity_rows.index("currency") < opportunity_rows.index("close_date")

    screenshot = tmp_path / "report.png"
    chromium(tmp_path, "--window-size=1200,2200", f"--screenshot={screenshot}", path.as_uri())
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1200, 2200)


# --- terminal ------------------------------------------------------------------------------


def _terminal(result: ValidationResult) -> list[str]:
    console = Console(record=True, width=100, file=io.StringIO(), highlight=False)
    validation_table(result, console=console)
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_validation_table(result: ValidationResult) -> None:
    lines = _terminal(result)
    assert lines[-1] == VERDICT
    assert "contact (250 rows)" in lines
    assert "opportunity (80 rows)" in lines
    rows = [[cell.strip() for cell in line.strip("│").split("│")]
            for line in lines if re.search(r"│ (PASS|FAIL) +│$", line)]
    # Failing checks first, then the rest, each group in the validator's order.
    assert [row[0] for row in rows] == [
        "email", "id", "account_id", "phone",
        "account_id", "currency", "name", "close_date",
    ]
    assert rows[0] == ["email", "general", "20", "250", "8.0%", "5.0%", "FAIL"]
    assert rows[1] == ["id", "key", "0", "250", "0.0%", "1.0%", "PASS"]
    assert rows[5] == ["currency", "general", "60", "80", "75.0%", "5.0%", "FAIL"]


def test_validation_table_passing() -> None:
    passing = ValidationResult(
        [EntityResult("lead", 1200, [Check("lead", "email", "lead", 200, 1200, 0.2)]),
         EntityResult("account", 10, [Check("account", "name", "key", 0, 10, 0.01)])],
        pd.DataFrame(),
    )
    lines = _terminal(passing)
    assert lines[-1] == "PASSED: all 2 checks within their thresholds"
    assert "lead (1,200 rows)" in lines


def test_check_summary_names_rate_threshold_and_class(result: ValidationResult) -> None:
    assert check_summary(result.check("contact", "email")) == EMAIL_MESSAGE
