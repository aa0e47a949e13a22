"""The report's files for machines: JSON (the whole report) and JUnit XML (the gate's checks
and the findings of severity error, as tests CI shows). Written whole or not at all, with
validate's writers; the HTML page is `crmmigrate.reporting.html`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from crmmigrate.reporting.numbers import metric_text
from crmmigrate.reporting.model import Finding, GateCheck, Report
from crmmigrate.validate.outputs import suite_attributes, write_json_data, write_junit_tree, xml_text


def write_json(report: Report, path: Path) -> None:
    """`report.as_dict()` as indented UTF-8 JSON."""
    write_json_data(report.as_dict(), path)


def check_summary(check: GateCheck) -> str:
    """One line, each number as its metric's kind reads: "opportunity.past_due_share = 86.0%,
    over its max 1.0%"."""
    if check.value is None:
        why = ("not reconciled: give --legacy RUN_DIR" if check.metric.startswith("reconciliation.")
               else "no records to judge it on")
        return f"{check.metric}: not computed ({why})" + ("" if check.passed else ", but required")
    relation = ("at least" if check.op == "min" else "at most") if check.passed else \
        ("under its min" if check.op == "min" else "over its max")
    return (f"{check.metric} = {metric_text(check.metric, check.value)}, {relation} "
            f"{metric_text(check.metric, check.limit)}")


def finding_summary(finding: Finding) -> str:
    return f"{finding.key}: {finding.count:,} of {finding.of:,} ({100 * finding.rate:.1f}%) {finding.title}"


def _examples_text(finding: Finding) -> str:
    lines = [finding.hint] if finding.hint else []
    for example in finding.examples:
        lines.append("  " + ", ".join(f"{key}={value!r}" for key, value in example.items()))
    return "\n".join(lines) + "\n"


def junit_tree(report: Report) -> ET.ElementTree:
    """Two testsuites: `crmmigrate.report.gate`, a testcase per fail_on check, and
    `crmmigrate.report.findings`, a testcase per finding of severity error."""
    errors = [f for s in report.sections for f in s.findings if f.severity == "error"]
    gate_failed = [c for c in report.gate if not c.passed]
    findings_failed = [f for f in errors if f.count]
    root = ET.Element("testsuites", suite_attributes("crmmigrate.report", len(report.gate) + len(errors),
                                                     len(gate_failed) + len(findings_failed)))
    suite = ET.SubElement(root, "testsuite", suite_attributes("crmmigrate.report.gate", len(report.gate),
                                                              len(gate_failed)))
    for check in report.gate:
        case = ET.SubElement(suite, "testcase", classname="crmmigrate.report.gate", name=xml_text(check.metric),
                             time="0")
        if check.passed:
            ET.SubElement(case, "system-out").text = xml_text(check_summary(check))
        else:
            ET.SubElement(case, "failure", message=xml_text(check_summary(check)), type="GateFailed")
    suite = ET.SubElement(root, "testsuite", suite_attributes("crmmigrate.report.findings", len(errors),
                                                              len(findings_failed)))
    for finding in errors:
        case = ET.SubElement(suite, "testcase", classname="crmmigrate.report.findings", name=xml_text(finding.key),
                             time="0")
        if not finding.count:
            ET.SubElement(case, "system-out").text = xml_text(finding_summary(finding))
        else:
            failure = ET.SubElement(case, "failure", message=xml_text(finding_summary(finding)), type="Finding")
            failure.text = xml_text(_examples_text(finding))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: Report, path: Path) -> None:
    write_junit_tree(junit_tree(report), path)
