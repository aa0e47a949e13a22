"""Extract a 1M-row cp1251 CSV and a 460k-row Excel sheet; print time and peak memory beside
the readers a user would reach for.

    python bench/bench_extract.py [--rows 1000000] [--excel-rows 460000] [--only csv|excel]

CSV: the reference is `pandas.read_csv(dtype=str, engine="c")` + `to_parquet` on the same file,
with the encoding and delimiter given to it (crmmigrate detects them, checks every line's
width, keeps line numbers and rejects ragged lines, which pandas does not).

Excel: one sheet of 13 columns written as Excel writes it (shared strings, dates as serials
with a date style, numbers, booleans, a few empty cells). References, each + `to_parquet`:
`pandas.read_excel(engine="calamine", dtype=str)` (calamine's types turned into pandas' text,
no header detection, no row numbers, no notes), and openpyxl in read-only mode (values only,
cells through `str`), the reader crmmigrate used before calamine. crmmigrate's side is its
whole extract: sheet and header row found, cells as plain text with Excel's 15 digits, the
sheet's XML searched for formulas never calculated, error cells and dates out of range, row
numbers kept, Parquet written.

Each side runs in its own process, so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

FIRST = ["Иван", "Анна", "Ольга", "Дмитрий", "John", "Mary", "Jürgen", "José", "Elena", "Peter"]
LAST = ["Петров", "Смирнова", "Кузнецова", "Smith", "Johnson", "Müller", "García", "Brown"]
CITY = ["Москва", "Санкт-Петербург", "Berlin", "Paris", "New York", "Казань", "Praha"]


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="cp1251", errors="replace", newline="") as f:
        f.write("ContactID;AccountID;First Name;Last Name;E-mail;Phone;Title;City;ZIP;Created\n")
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            f.write(
                f"C{i:07d};A{rng.randrange(rows // 5):06d};{first};{last};"
                f"user{i}@example.com;+7 495 {rng.randrange(10**7):07d};Manager;"
                f"{rng.choice(CITY)};{rng.randrange(10**5):05d};"
                f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.20{rng.randrange(10, 25)}\n"
            )


def make_xlsx(path: Path, rows: int) -> None:
    """A sheet as Excel writes it, written straight as XML (openpyxl would take minutes)."""
    rng = random.Random(7)
    header = ["Lead ID", "First Name", "Last Name", "Company", "E-mail", "Phone", "City",
              "Status", "Lead Source", "Created", "Annual Revenue", "Employees", "Do Not Call"]
    columns = [chr(65 + i) for i in range(len(header))]
    shared: dict[str, int] = {}

    def cells(number: int, values: list) -> str:
        out = [f'<row r="{number}">']
        for column, (kind, value) in zip(columns, values):
            ref = f"{column}{number}"
            if kind == "s":
                index = shared.setdefault(value, len(shared))
                out.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
            elif kind == "date":
                out.append(f'<c r="{ref}" s="1"><v>{value}</v></c>')
            elif kind == "b":
                out.append(f'<c r="{ref}" t="b"><v>{value}</v></c>')
            elif kind == "n":
                out.append(f'<c r="{ref}"><v>{value}</v></c>')
        out.append("</row>")
        return "".join(out)

    statuses = ["Open", "Contacted", "Qualified", "Unqualified"]
    sources = ["Web", "Trade show", "Referral", "Cold call", "Partner"]
    body = [cells(1, [("s", h) for h in header])]
    for i in range(rows):
        values = [
            ("s", f"L{i:07d}"), ("s", rng.choice(FIRST)), ("s", rng.choice(LAST)),
            ("s", f"{rng.choice(LAST)} {rng.choice(['GmbH', 'LLC', 'ООО'])}"),
            ("s", f"lead{i}@example.com"), ("s", f"+7 495 {rng.randrange(10**7):07d}"),
            ("s", rng.choice(CITY)), ("s", rng.choice(statuses)), ("s", rng.choice(sources)),
            ("date", rng.randrange(40000, 45500)), ("n", repr(rng.randrange(10**8) / 100)),
            ("n", rng.randrange(1, 5000)), ("b", rng.randrange(2)),
        ]
        if rng.random() < 0.05:
            values[5] = ("", None)
        body.append(cells(i + 2, values))
    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    doc = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006"
    xml = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": f'{xml}<Types xmlns="{pkg}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/></Types>',
        "_rels/.rels": f'{xml}<Relationships xmlns="{pkg}/relationships"><Relationship Id="rId1" '
        f'Type="{doc}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'{xml}<workbook {main} {rel}><sheets>'
        '<sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'{xml}<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{doc}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{doc}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{doc}/styles" Target="styles.xml"/></Relationships>',
        "xl/styles.xml": f'{xml}<styleSheet {main}><fonts count="1"><font><sz val="11"/>'
        '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/>'
        '</fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border>'
        '<left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
        "</cellStyles></styleSheet>",
        "xl/worksheets/sheet1.xml": f'{xml}<worksheet {main} {rel}><dimension ref="A1:M{rows + 1}"/>'
        "<sheetData>" + "".join(body) + "</sheetData></worksheet>",
    }
    parts["xl/sharedStrings.xml"] = (
        f'{xml}<sst {main} count="{len(shared)}" uniqueCount="{len(shared)}">'
        + "".join(f"<si><t>{escape(text)}</t></si>" for text in shared)
        + "</sst>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in parts.items():
            package.writestr(name, text)


def run_crmmigrate(src: str, out: str) -> dict:
    from crmmigrate.extract import Source, extract

    start = time.perf_counter()
    report = extract(Source(location=src), Path(out))
    return {"seconds": time.perf_counter() - start, "rows": report.rows,
            "encoding": report.encoding, "delimiter": report.delimiter,
            "header_row": report.header_row, "notes": report.notes}


def run_pandas(src: str, out: str) -> dict:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(src, sep=";", encoding="cp1251", dtype=str, engine="c",
                        keep_default_na=False)
    frame.to_parquet(out, index=False)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


def run_pandas_calamine(src: str, out: str) -> dict:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_excel(src, engine="calamine", dtype=str)
    frame.to_parquet(out, index=False)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


def run_openpyxl(src: str, out: str) -> dict:
    import openpyxl
    import pandas as pd

    start = time.perf_counter()
    book = openpyxl.load_workbook(src, read_only=True, data_only=True)
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = next(rows)
    frame = pd.DataFrame(
        [[None if v is None else str(v) for v in row] for row in rows], columns=header
    )
    book.close()
    frame.to_parquet(out, index=False)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


SIDES = {"crmmigrate": run_crmmigrate, "pandas": run_pandas,
         "pandas_calamine": run_pandas_calamine, "openpyxl": run_openpyxl}


def child(side: str, src: str, out: str) -> None:
    import resource

    result = SIDES[side](src, out)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(sides: list[str], src: Path) -> dict[str, dict]:
    results = {}
    for side in sides:
        done = subprocess.run(
            [sys.executable, __file__, "--child", side, str(src), str(DATA / f"{side}.parquet")],
            capture_output=True, text=True, check=True,
        )
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def table(results: dict[str, dict], titles: list[str]) -> None:
    sides = list(results)
    print(f"{'':28}" + "".join(f"{t:>18}" for t in titles))
    print(f"{'seconds':28}" + "".join(f"{results[s]['seconds']:>18.1f}" for s in sides))
    print(f"{'rows/s':28}" + "".join(f"{results[s]['rows'] / results[s]['seconds']:>18,.0f}" for s in sides))
    print(f"{'peak memory (MB, max RSS)':28}" + "".join(f"{results[s]['max_rss_mb']:>18,.0f}" for s in sides))
    print(f"{'rows':28}" + "".join(f"{results[s]['rows']:>18,}" for s in sides))
    first = results[sides[0]]["seconds"]
    print(f"{'crmmigrate time / this':28}" + "".join(f"{first / results[s]['seconds']:>17.2f}x" for s in sides))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--excel-rows", type=int, default=460_000)
    parser.add_argument("--only", choices=["csv", "excel"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    DATA.mkdir(exist_ok=True)
    if args.only != "excel":
        src = DATA / f"contacts_{args.rows}.csv"
        if not src.exists():
            make_csv(src, args.rows)
        size_mb = src.stat().st_size / 1e6
        print(f"input: {src.name}, {args.rows:,} rows, {size_mb:.0f} MB, cp1251, ';'")
        results = measure(["crmmigrate", "pandas"], src)
        table(results, ["crmmigrate", "pandas C reader"])
        c = results["crmmigrate"]
        print(f"crmmigrate detected encoding {c['encoding']}, delimiter {c['delimiter']!r}")
    if args.only != "csv":
        src = DATA / f"leads_{args.excel_rows}.xlsx"
        if not src.exists():
            make_xlsx(src, args.excel_rows)
        size_mb = src.stat().st_size / 1e6
        print(f"\ninput: {src.name}, {args.excel_rows:,} rows x 13 columns, {size_mb:.0f} MB")
        results = measure(["crmmigrate", "pandas_calamine", "openpyxl"], src)
        table(results, ["crmmigrate", "pandas calamine", "openpyxl r/o"])
        c = results["crmmigrate"]
        print(f"crmmigrate found the header on row {c['header_row']}; notes: {c['notes'] or 'none'}")


if __name__ == "__main__":
    main()
