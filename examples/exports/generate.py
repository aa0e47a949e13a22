"""Write a small legacy export set that is not the samples, for the README's "Migrating your own
exports" walkthrough (tests/test_readme_walkthrough.py runs it):

    accounts.csv    a German CRM's customers: UTF-8 with a byte-order mark, ';', a country column
    kontakte.csv    its contacts: cp1252, ',', German numbers written without +49, no country
    leads.xlsx      a US trade-show sheet: title rows above the header, (212) 555-... style numbers
    cases.jsonl     the support desk's tickets: JSON Lines

Deterministic (one seed, no clock): run it again and the files are byte for byte the same.

    python examples/exports/generate.py [FOLDER]     # default: the folder this script is in
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import zipfile
from pathlib import Path

import openpyxl
import phonenumbers

SEED = 17
FIRMS = ["Bäckerei Sommer", "Elektro Krause", "Hofmann Logistik", "Nordlicht Medien", "Schreinerei Vogel",
         "Brandt Maschinenbau", "Alpen Consulting", "Weber & Söhne", "Grünwald Energie", "Kessler Druck",
         "Hansa Software", "Rhein Pharma", "Seidel Bau", "Lindner Optik", "Fischer Feinkost",
         "Donau Reisen", "Ostsee Hotels", "Keller Versicherungen", "Wolf Automotive", "Becker Textil"]
LEGAL = ["GmbH", "AG", "KG", "GmbH & Co. KG", "e.K."]
INDUSTRIES = ["Manufacturing", "Retail", "Consulting", "Technology", "Hospitality", "Energy", "Media", "Insurance"]
CITIES = [("Berlin", "10115", "30"), ("München", "80331", "89"), ("Hamburg", "20095", "40"),
          ("Köln", "50667", "221"), ("Stuttgart", "70173", "711"), ("Leipzig", "04109", "341"),
          ("Düsseldorf", "40213", "211"), ("Dresden", "01067", "351")]
FIRST = ["Anna", "Jörg", "Heike", "Paul", "Sabine", "Jürgen", "Katrin", "Uwe", "Monika", "Stefan", "Birgit",
         "Thomas", "Claudia", "Matthias", "Petra", "Andreas"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
        "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann"]
TITLES = ["Geschäftsführer", "Einkauf", "Vertriebsleiter", "Buchhaltung", "IT-Leiter", "Assistenz"]
US_FIRST = ["James", "Mary", "Robert", "Patricia", "Michael", "Linda", "David", "Susan", "Daniel", "Karen"]
US_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Moore"]
US_FIRMS = ["Hudson Analytics", "Empire Robotics", "Brooklyn Foods", "Liberty Health", "Madison Media",
            "Harbor Freight Partners", "Bronx Builders", "Queens Textiles"]
US_AREAS = ["212", "718", "646", "917", "347"]
LEAD_SOURCES = ["Trade Show", "Web", "Referral", "Cold Call"]
LEAD_STATUS = ["New", "Contacted", "Qualified", "Unqualified"]
SUBJECTS = ["Lieferung verspätet", "Rechnung falsch", "Passwort zurücksetzen", "Gerät defekt",
            "Vertrag kündigen", "Adresse ändern", "Angebot angefragt"]
PRIORITIES = ["High"] * 3 + ["Medium"] * 4 + ["Low"] * 3 + ["Urgent"] * 2  # Urgent: not a priority the rules allow
STATUS = ["New", "In Progress", "Closed", "Closed", "On Hold"]


def german_phone(rng: random.Random, area: str, *, international: bool = False) -> str:
    """A valid German number of that area code (or mobile prefix), written as Germans write it."""
    for _ in range(1000):
        number = f"{rng.randint(2, 9)}{rng.randint(1000000, 9999999)}"[: rng.choice([10, 11]) - len(area)]
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+49{area}{number}")):
            return f"+49 {area} {number}" if international else f"0{area} {number}"
    raise ValueError(f"no valid German number found for area code {area}")


def us_phone(rng: random.Random) -> str:
    return f"({rng.choice(US_AREAS)}) {rng.randint(201, 989)}-{rng.randint(1000, 9999)}"


def accounts(rng: random.Random) -> list[dict[str, str]]:
    rows = []
    for i, firm in enumerate(FIRMS):
        city, postcode, area = rng.choice(CITIES)
        austrian = i % 7 == 6
        rows.append({
            "Kunden-Nr": f"K{1001 + i}",
            "Firma": f"{firm} {rng.choice(LEGAL)}",
            "Branche": rng.choice(INDUSTRIES),
            "Telefon": "+43 1 " + str(rng.randint(2000000, 9999999)) if austrian
            else german_phone(rng, area, international=i % 5 == 0),
            "Webseite": "www." + firm.lower().replace(" & ", "-").replace(" ", "-").replace("ä", "ae")
                        .replace("ö", "oe").replace("ü", "ue") + (".at" if austrian else ".de"),
            "Straße": f"{rng.choice(['Haupt', 'Bahnhof', 'Garten', 'Linden'])}straße {rng.randint(1, 120)}",
            "PLZ": "1010" if austrian else postcode,
            "Ort": "Wien" if austrian else city,
            "Land": "Österreich" if austrian else "Deutschland",
        })
    return rows


def contacts(rng: random.Random, firms: list[dict[str, str]]) -> list[dict[str, str]]:
    rows = []
    for i in range(60):
        firm = rng.choice(firms)
        area = next((a for c, _, a in CITIES if c == firm["Ort"]), "30")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append({
            "Kontakt-ID": str(5001 + i),
            "Vorname": first,
            "Nachname": last,
            "Kunden-Nr": firm["Kunden-Nr"],
            "E-Mail": f"{first[0].lower()}.{last.lower()}@{firm['Webseite'].removeprefix('www.')}".replace("ü", "ue")
            .replace("ö", "oe").replace("ä", "ae"),
            "Telefon": german_phone(rng, area),
            # Two numbers typed short: the dirt a gate should count.
            "Mobil": "0151 23" if i in (17, 43) else german_phone(rng, "1" + rng.choice(["51", "60", "70", "76"])),
            "Position": rng.choice(TITLES),
        })
    return rows


def leads(rng: random.Random) -> list[list[str]]:
    rows = []
    for i in range(30):
        first, last = rng.choice(US_FIRST), rng.choice(US_LAST)
        firm = rng.choice(US_FIRMS)
        rows.append([f"L-{301 + i}", first, last, firm, f"{first.lower()}.{last.lower()}@example.com",
                     us_phone(rng), rng.choice(LEAD_SOURCES), rng.choice(LEAD_STATUS),
                     f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"])
    return rows


def cases(rng: random.Random, people: list[dict[str, str]]) -> list[dict[str, str | None]]:
    rows = []
    for i in range(40):
        person = rng.choice(people)
        opened = f"2024-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
        status = rng.choice(STATUS)
        rows.append({"ticket": f"T-{9001 + i}", "customer": person["Kunden-Nr"], "contact": person["Kontakt-ID"],
                     "subject": rng.choice(SUBJECTS), "status": status, "priority": rng.choice(PRIORITIES),
                     "opened": opened, "closed": opened if status == "Closed" else None})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], *, encoding: str, delimiter: str) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Leads"
    sheet.append(["Javits Center trade show, booth 2214: leads"])
    sheet.append(["exported from the badge scanner; see the notes sheet"])
    sheet.append([])
    sheet.append(["Lead #", "First Name", "Last Name", "Company", "Email", "Phone", "Lead Source", "Status",
                  "Created"])
    for row in rows:
        sheet.append(row)
    book.create_sheet("Notes").append(["scanned on the show floor"])
    book.save(path)
    _fix_timestamps(path)


def _fix_timestamps(path: Path) -> None:
    """openpyxl stamps the workbook with the clock; a fixed date keeps the file the same each run."""
    with zipfile.ZipFile(path) as old:
        parts = [(info, old.read(info.filename)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in parts:
            if info.filename == "docProps/core.xml":
                import re

                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2024-12-01T00:00:00Z", data)
            info.date_time = (2024, 12, 1, 0, 0, 0)
            new.writestr(info, data)


def main(folder: Path) -> None:
    rng = random.Random(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    firms = accounts(rng)
    people = contacts(rng, firms)
    write_csv(folder / "accounts.csv", firms, encoding="utf-8-sig", delimiter=";")
    write_csv(folder / "kontakte.csv", people, encoding="cp1252", delimiter=",")
    write_xlsx(folder / "leads.xlsx", leads(rng))
    (folder / "cases.jsonl").write_text(
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases(rng, people)), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
