"""The sample legacy exports in samples/ and samples/truth.json, which says what was planted in them.

Files are read with the stdlib, openpyxl and sqlite3 only, never with crmmigrate's extractor: these
tests pin down the fixture that the extractor's own tests rely on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import openpyxl
import pytest

from crmmigrate.defaults import SAMPLES_DIR
from crmmigrate.model import MODEL

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TRUTH = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))
FILES = TRUTH["files"]
THRESHOLDS = {"general": 0.05, "key": 0.01, "pointer": 0.01, "lead": 0.20}  # DESIGN.md


def flatten(obj: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def text(value) -> str:
    return "" if value is None else str(value)


def read_records(root: Path, rel: str) -> tuple[list[str], list[dict]]:
    """Header and every record of one file as column -> raw value; a record's "_line" is where it starts."""
    info = FILES[rel]
    path = root / rel
    fmt = info["format"]
    if fmt == "csv":
        data = path.read_bytes().decode(info["encoding"])
        reader = csv.reader(io.StringIO(data, newline=""), delimiter=info["delimiter"])
        header, records, line = None, [], 0
        for fields in reader:
            start, line = line + 1, reader.line_num
            if header is None:
                assert start == info["header_row"]
                header = fields
                continue
            records.append({"_line": start, "_fields": fields, **dict(zip(header, fields))})
        return header, records
    if fmt == "xlsx":
        ws = openpyxl.load_workbook(path)[info["sheet"]]
        rows = list(ws.iter_rows(values_only=True))
        header = list(rows[info["header_row"] - 1])
        return header, [dict(zip(header, r)) for r in rows[info["header_row"]:]]
    if fmt == "json":
        docs = []
        for doc in json.loads(path.read_text(encoding=info["encoding"])):
            flat = flatten(doc)
            # A null nested object ("Account": null) stands for all of its columns being empty.
            for key in [k for k, v in flat.items() if v is None and k not in info["columns"]]:
                del flat[key]
                flat.update({c: None for c in info["columns"] if c.startswith(key + ".")})
            docs.append(flat)
        return info["columns"], docs
    if fmt == "jsonl":
        records = []
        for i, line in enumerate(path.read_text(encoding=info["encoding"]).splitlines(), start=1):
            try:
                records.append({"_line": i, **json.loads(line)})
            except json.JSONDecodeError:
                records.append({"_line": i, "_malformed": line})
        return info["columns"], records
    assert fmt == "sqlite"
    con = sqlite3.connect(path)
    cur = con.execute(f"SELECT * FROM {info['table']}")
    header = [d[0] for d in cur.description]
    records = [dict(zip(header, r)) for r in cur.fetchall()]
    con.close()
    return header, records


def good_records(rel: str) -> list[dict]:
    rejected = {r["line"] for r in FILES[rel]["rejects"]}
    return [r for r in read_records(SAMPLES, rel)[1] if r.get("_line") not in rejected]


def by_id(rel: str) -> dict[str, dict]:
    id_column = FILES[rel]["id_column"]
    records = good_records(rel)
    index = {text(r[id_column]): r for r in records}
    assert len(index) == len(records), f"{rel}: legacy ids are not unique"
    return index


# --------------------------------------------------------------------------------------------


def sqlite_dump(path: Path) -> list:
    con = sqlite3.connect(path)
    dump = list(con.iterdump())
    con.close()
    return dump


def xlsx_dump(path: Path) -> dict:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [[(c.value, c.number_format) for c in row] for row in ws.iter_rows()] for ws in wb}


def test_generator_is_deterministic(tmp_path):
    subprocess.run([sys.executable, str(SAMPLES / "generate.py"), "--out", str(tmp_path)], check=True)
    generated = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert generated == set(FILES) | {"truth.json"}
    for rel in sorted(generated):
        fmt = FILES.get(rel, {}).get("format", "json")
        if fmt == "xlsx":
            assert xlsx_dump(tmp_path / rel) == xlsx_dump(SAMPLES / rel), rel
        elif fmt == "sqlite":
            assert sqlite_dump(tmp_path / rel) == sqlite_dump(SAMPLES / rel), rel
        else:
            assert (tmp_path / rel).read_bytes() == (SAMPLES / rel).read_bytes(), rel


def test_samples_stay_small():
    # The exports themselves are shipped in the package (samples/ links to them), and a wheel
    # carries them: they count too.
    files = {p.resolve() for folder in (SAMPLES, SAMPLES_DIR) for p in folder.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    assert {f.relative_to(SAMPLES_DIR).as_posix() for f in files if f.is_relative_to(SAMPLES_DIR)} == set(FILES)
    total = sum(f.stat().st_size for f in files)
    assert total < 1_500_000


def test_every_entity_has_a_file():
    assert {f["entity"] for f in FILES.values()} == set(MODEL.names)


@pytest.mark.parametrize("rel", sorted(FILES))
def test_file_matches_its_declared_shape(rel):
    info = FILES[rel]
    raw = (SAMPLES / rel).read_bytes()
    header, records = read_records(SAMPLES, rel)
    assert header == info["columns"]
    assert len(records) == info["records"]
    assert len(good_records(rel)) == info["data_rows"] == info["records"] - len(info["rejects"])
    if info["format"] == "csv":
        if info["encoding"] == "utf-8-sig":
            assert raw.startswith(b"\xef\xbb\xbf")
        elif info["encoding"] == "utf-16":
            assert raw.startswith(b"\xff\xfe")
            assert raw[2:].decode("utf-16-le").startswith(header[0])
        else:
            # A legacy code page: not valid UTF-8, so an extractor has to detect or be told.
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        width = len(header)
        for r in records:
            ragged = [rj for rj in info["rejects"] if rj["line"] == r["_line"]]
            assert (len(r["_fields"]) != width) == bool(ragged), (rel, r["_line"])
    if info["format"] == "jsonl":
        malformed = [r["_line"] for r in records if "_malformed" in r]
        assert malformed == [rj["line"] for rj in info["rejects"]]
        assert all(set(r) - {"_line"} == set(header) for r in records if "_malformed" not in r)
    if info["format"] == "json":
        assert all(set(r) == set(header) for r in records)


def test_legacy_encodings_hold_their_scripts():
    accounts = (SAMPLES / "legacy_crm/accounts.csv").read_bytes().decode("cp1251")
    assert "ООО «Ромашка»" in accounts and "Ромашка ООО" in accounts and "ACME Inc." in accounts
    cases = (SAMPLES / "call_centre/cases.csv").read_bytes().decode("gbk")
    assert re.search(r"[\u4e00-\u9fff]", cases)
    roles = (SAMPLES / "legacy_crm/opportunity_contact_roles.csv").read_bytes().decode("cp1252")
    assert "€" in roles and "–" in roles  # bytes where cp1252 and Latin-1 differ
    leads = (SAMPLES / "call_centre/leads.tsv").read_bytes().decode("utf-16")
    assert re.search(r"[\u0400-\u04ff]", leads) and re.search(r"[\u4e00-\u9fff]", leads)


def test_excel_layout():
    info = FILES["sales_reps/contacts.xlsx"]
    wb = openpyxl.load_workbook(SAMPLES / "sales_reps/contacts.xlsx")
    assert wb.sheetnames == info["sheets"] == ["Contacts", "Notes"]
    rows = list(wb["Contacts"].iter_rows(values_only=True))
    assert rows[0][0].startswith("Contacts - exported by") and rows[1][0].startswith("As of")
    assert all(v is None for v in rows[2])
    assert info["header_row"] == 4
    records = good_records("sales_reps/contacts.xlsx")
    assert all(str(r["Full Name"]).startswith("=") for r in records)
    dates = [r["Date Added"] for r in records]
    assert sum(hasattr(d, "year") for d in dates) > 50 and sum(isinstance(d, str) for d in dates) > 20
    names = " ".join(f"{r['First Name']} {r['Last Name']}" for r in records)
    assert re.search(r"[\u0400-\u04ff]", names) and re.search(r"[\u4e00-\u9fff]", names)
    assert re.search(r"[äöüéèçñøłó]", names.lower())


def test_date_orders():
    # Every "Last Contacted" value is ambiguous: day and month both <= 12.
    info = FILES["legacy_crm/contacts.csv"]
    assert info["ambiguous_date_columns"] == ["Last Contacted"]
    for r in good_records("legacy_crm/contacts.csv"):
        a, b, _ = r["Last Contacted"].split("/")
        assert int(a) <= 12 and int(b) <= 12
    # Lead dates are mm/dd/yyyy, and enough days exceed 12 to decide that.
    bad = {e["value"] for e in TRUTH["invalid"] if e["file"] == "call_centre/leads.tsv" and e["kind"] == "bad_date"}
    pairs = [tuple(map(int, r["Created"].split("/")[:2])) for r in good_records("call_centre/leads.tsv")
             if r["Created"] not in bad]
    assert all(m <= 12 for m, _ in pairs) and sum(d > 12 for _, d in pairs) > 50
    days = [int(r["Created"][:2]) for r in good_records("legacy_crm/accounts.csv")]
    assert sum(d > 12 for d in days) > 30


def test_mappings_name_canonical_fields():
    for rel, info in FILES.items():
        entity = MODEL.entity(info["entity"])
        mapped = [f for f in info["mapping"].values() if f is not None]
        assert set(info["mapping"]) == set(info["columns"])
        assert all(f in entity for f in mapped), rel
        assert len(mapped) == len(set(mapped)), rel
        provided = set(mapped) | set(info.get("defaults", {}))
        assert {f.name for f in entity.required} <= provided, rel


# --------------------------------------------------------------------------------------------


def planted() -> list[dict]:
    return [{**e, "kind": e.get("kind", "orphan")} for e in TRUTH["invalid"] + TRUTH["orphans"]]


@pytest.mark.parametrize("section", ["invalid", "orphans", "formatting"])
def test_truth_values_are_in_the_files(section):
    index = {rel: by_id(rel) for rel in FILES}
    for e in TRUTH[section]:
        info = FILES[e["file"]]
        assert info["entity"] == e["entity"]
        assert info["mapping"][e["column"]] == e["field"]
        record = index[e["file"]][e["legacy_id"]]
        assert text(record[e["column"]]) == text(e["value"]), e


def test_orphans_point_at_nothing():
    ids = defaultdict(set)
    for rel, info in FILES.items():
        ids[info["entity"]] |= set(by_id(rel))
    for e in TRUTH["orphans"]:
        entity = MODEL.entity(e["entity"])
        field = entity.field(e["field"])
        assert field.is_pointer
        assert text(e["value"]) not in set().union(*ids.values())
    # And every pointer not declared an orphan resolves.
    declared = {(e["file"], e["legacy_id"], e["column"]) for e in planted()}
    for rel, info in FILES.items():
        entity = MODEL.entity(info["entity"])
        for column, field_name in info["mapping"].items():
            if field_name is None or not entity.field(field_name).is_pointer:
                continue
            target = entity.field(field_name).target
            for legacy_id, record in by_id(rel).items():
                value = text(record[column])
                if value and (rel, legacy_id, column) not in declared and target != "*":
                    assert value in ids[target], (rel, legacy_id, column, value)


def test_invalid_values_are_truly_invalid():
    for e in TRUTH["invalid"]:
        value = text(e["value"])
        if e["kind"] == "invalid_email":
            email = r"[a-z0-9_%+-]+(\.[a-z0-9_%+-]+)*@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)*\.[a-z]{2,}"
            assert not re.fullmatch(email, value.strip().lower()), value
        elif e["kind"] == "invalid_phone":
            digits = re.sub(r"\D", "", value)
            assert len(digits) < 7 or len(digits) > 15 or "E+" in value, value
        elif e["kind"] == "missing_required":
            assert value == "" and MODEL.entity(e["entity"]).field(e["field"]).required
        elif e["kind"] == "hierarchy_cycle":
            assert e["legacy_id"] in e["cycle"] and value in e["cycle"]
        elif e["kind"] == "close_before_created":
            assert value < e["created_at"][:10]
        elif e["kind"] == "closed_before_opened":
            assert value < e["opened_at"]


def test_formatting_dirt_is_fixable():
    for e in TRUTH["formatting"]:
        value, expected = e["value"], e["expected"]
        # An amount may differ only in type: the string "1234.50" where the dump has numbers.
        assert text(value) != expected or e["kind"] == "amount_format"
        if e["kind"] in ("phone_format", "phone_as_number"):
            assert re.fullmatch(r"\+\d{8,15}", expected)
            assert re.sub(r"\D", "", text(value))[-7:] == expected[-7:]
        elif e["kind"] == "email_case_whitespace":
            assert value.strip().lower() == expected
        elif e["kind"] == "mojibake":
            assert value.encode("cp1252").decode("utf-8") == expected
        elif e["kind"] == "whitespace":
            assert value.strip() == expected
        elif e["kind"] == "amount_format":
            assert isinstance(value, str) and re.fullmatch(r"\d+\.\d{2}", expected)


# --------------------------------------------------------------------------------------------


def test_clusters_and_pairs_reference_real_records():
    index = {rel: by_id(rel) for rel in FILES}
    for entity, clusters in TRUTH["duplicates"].items():
        assert clusters, entity
        for cluster in clusters:
            members = cluster["members"]
            assert len(members) >= 2 and len({tuple(m) for m in members}) == len(members)
            for rel, legacy_id in members:
                assert FILES[rel]["entity"] == entity and legacy_id in index[rel]
    for pair in TRUTH["hard_negatives"]:
        assert all(legacy_id in index[rel] for rel, legacy_id in pair["pair"])
    for match in TRUTH["lead_contact_matches"]:
        (lrel, lid), (crel, cid) = match["lead"], match["contact"]
        assert FILES[lrel]["entity"] == "lead" and FILES[crel]["entity"] == "contact"
        assert lid in index[lrel] and cid in index[crel]
    sources = {tuple(sorted({m[0] for m in c["members"]})) for c in TRUTH["duplicates"]["contact"]}
    assert ("legacy_crm/contacts.csv", "sales_reps/contacts.xlsx") in sources  # across sources
    assert ("legacy_crm/contacts.csv",) in sources and ("sales_reps/contacts.xlsx",) in sources  # within


def test_no_undeclared_namesakes():
    """Two people records with the same name are a declared duplicate, match or hard negative."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    def union(members):
        for m in members[1:]:
            parent[find(tuple(members[0]))] = find(tuple(m))

    for clusters in TRUTH["duplicates"].values():
        for c in clusters:
            union(c["members"])
    for m in TRUTH["lead_contact_matches"]:
        union([m["lead"], m["contact"]])
    for p in TRUTH["hard_negatives"]:
        union(p["pair"])
    groups = defaultdict(list)
    for rel, info in FILES.items():
        if info["entity"] not in ("contact", "lead"):
            continue
        first = next(c for c, f in info["mapping"].items() if f == "first_name")
        last = next(c for c, f in info["mapping"].items() if f == "last_name")
        for legacy_id, r in by_id(rel).items():
            key = (text(r[first]).casefold(), text(r[last]).casefold())
            if key[1]:
                groups[key].append((rel, legacy_id))
    for key, members in groups.items():
        assert len({find(m) for m in members}) == 1, (key, members)


def test_counts_and_thresholds():
    rows = defaultdict(int)
    for info in FILES.values():
        rows[info["entity"]] += info["data_rows"]
    counts = defaultdict(int)
    for e in planted():
        counts[(e["entity"], e["field"], e["kind"])] += 1
    assert {(c["entity"], c["field"], c["kind"]): c["count"] for c in TRUTH["counts"]} == counts
    assert all(c["rows"] == rows[c["entity"]] for c in TRUTH["counts"])

    errors = defaultdict(int)
    for e in planted():
        errors[(e["entity"], e["field"])] += 1
    over = set()
    for (entity, field), n in errors.items():
        limit = THRESHOLDS[MODEL.entity(entity).threshold_class(field).value]
        rate = n / rows[entity]
        # Never borderline, so a gate run on these files has one obvious answer per field.
        assert rate >= 1.5 * limit or rate <= 0.6 * limit, (entity, field, rate)
        if rate > limit:
            over.add(f"{entity}.{field}")
    assert set(TRUTH["over_threshold"]) == over == {
        "account.parent_id", "contact.email", "opportunity.account_id", "opportunity_contact_role.contact_id"}
    rates = {(r["entity"], r["field"]): r for r in TRUTH["error_rates"]}
    # A lead field that would fail the general 5% passes the lead 20%.
    assert 0.05 < rates[("lead", "email")]["rate"] < 0.2 and not rates[("lead", "email")]["over"]
    assert rates[("account", "phone")]["rate"] < 0.05
