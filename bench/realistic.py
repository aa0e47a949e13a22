"""A realistic CRM export to deduplicate: accounts and their contacts, with known duplicates.

    python bench/realistic.py [--contacts 100000] [--seed 7]

prints what was made: rows, true pairs, namesake rates, company sizes.

`make_crm(contacts, seed)` returns the canonical `account` and `contact` frames (every field of
crmmigrate's model, plus the `_source`, `_file` and `_row` provenance columns the pipeline
gives every record) and, per entity, the true duplicate pairs (`references.Pair`). What it
models, and from what:

- People's names at their real frequencies: first names by gender and last names drawn with the
  weights of Faker's en_US person provider (US census tables: Smith about 2% of last names
  there, since Faker keeps the top 1,000 surnames only, James about 3% of men's first names).
  Namesakes therefore arise as they do in real data and grow with its size: many "James
  Smith"s at different companies, and now and then two at one big company.
- Companies: sizes skewed (a truncated Zipf law: half the accounts have one contact, a few have
  hundreds or thousands); names as Faker makes them ("Smith LLC", "Smith-Jones") or a
  descriptor and a trade ("Summit Dental", "Premier Plumbing LLC"), so that different companies
  share a name in different cities; real US cities at their population weights (plus a tail of
  small towns), each with its area code and ZIP prefix; a website built from the name (unique:
  a second "Summit Dental" gets summitdentalaustin.com), a switchboard phone, a street address.
- Contacts: a work email after the company's pattern (first.last@, flast@, first@ ...; a second
  John Smith at one company is john.smith2@), a personal address (gmail.com ...) for some,
  none for some; a direct line, the switchboard or no phone; a mobile for some; a title and
  department; their office as mailing address for most. Phones are written the ways exports
  write them ("(312) 555-0100", "312-555-0100", "+1 312 555 0100" ...).
- Duplicates: about 5% of accounts and 10% of contacts are extra records of one already there,
  a few of them in clusters of three or more (a copy of a copy drifts further). A copy varies as
  real re-entries do: a nickname (Bill for William, from the `nicknames` package), the first
  name blank or an initial, first and last name swapped, typos, case; the email missing, at a
  personal domain instead of work (or the other way) or in another case; phones missing, in
  another format, or the switchboard instead of the direct line; another title; an account
  copy's legal suffix varied ("Acme Inc" / "ACME, Inc." / "Acme"), its street abbreviated
  ("Street" / "St."), its website written another way. Contacts of a duplicated account point
  to either copy. Copies often come from another source (a marketing or events list).

Deterministic by seed; vectorised (numpy, pandas), so a million contacts take seconds.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from references import Pair, pair  # noqa: E402

ACCOUNT_COLUMNS = ("id", "name", "parent_id", "industry", "phone", "website", "email", "billing_street",
                   "billing_city", "billing_postal_code", "billing_state", "billing_country", "owner", "created_at")
CONTACT_COLUMNS = ("id", "account_id", "first_name", "last_name", "email", "phone", "mobile", "title", "department",
                   "mailing_street", "mailing_city", "mailing_postal_code", "mailing_state", "mailing_country",
                   "owner", "created_at")

# city, state, area code, ZIP prefix, population (thousands): real US cities, some names shared.
CITIES = """New York,NY,212,100,8336|Los Angeles,CA,213,900,3822|Chicago,IL,312,606,2665|Houston,TX,713,770,2302
Phoenix,AZ,602,850,1644|Philadelphia,PA,215,191,1567|San Antonio,TX,210,782,1472|San Diego,CA,619,921,1381
Dallas,TX,214,752,1300|Austin,TX,512,787,974|Jacksonville,FL,904,322,971|San Jose,CA,408,951,971
Fort Worth,TX,817,761,956|Columbus,OH,614,432,907|Charlotte,NC,704,282,879|Indianapolis,IN,317,462,880
San Francisco,CA,415,941,808|Seattle,WA,206,981,749|Denver,CO,303,802,713|Washington,DC,202,200,671
Nashville,TN,615,372,683|Oklahoma City,OK,405,731,694|El Paso,TX,915,799,677|Boston,MA,617,021,650
Portland,OR,503,972,635|Las Vegas,NV,702,891,656|Detroit,MI,313,482,620|Memphis,TN,901,381,621
Louisville,KY,502,402,624|Baltimore,MD,410,212,569|Milwaukee,WI,414,532,563|Albuquerque,NM,505,871,561
Tucson,AZ,520,857,546|Fresno,CA,559,937,545|Sacramento,CA,916,958,528|Kansas City,MO,816,641,510
Mesa,AZ,480,852,504|Atlanta,GA,404,303,499|Omaha,NE,402,681,485|Colorado Springs,CO,719,809,488
Raleigh,NC,919,276,476|Miami,FL,305,331,449|Minneapolis,MN,612,554,425|Tulsa,OK,918,741,411
Cleveland,OH,216,441,362|Tampa,FL,813,336,398|Pittsburgh,PA,412,152,302|Cincinnati,OH,513,452,309
St. Louis,MO,314,631,286|Orlando,FL,407,328,309|Salt Lake City,UT,801,841,200|Richmond,VA,804,232,226
Boise,ID,208,837,235|Des Moines,IA,515,503,213|Spokane,WA,509,992,229|Madison,WI,608,537,269
Buffalo,NY,716,142,276|Springfield,IL,217,627,114|Springfield,MO,417,658,169|Portland,ME,207,041,68
Columbia,SC,803,292,136|Columbia,MO,573,652,126|Burlington,VT,802,054,45|Fargo,ND,701,581,125
Anchorage,AK,907,995,291|Honolulu,HI,808,968,350|Hartford,CT,860,061,121|Providence,RI,401,029,190"""
STATE_NAMES = {"NY": "New York", "CA": "California", "IL": "Illinois", "TX": "Texas", "AZ": "Arizona",
               "PA": "Pennsylvania", "FL": "Florida", "OH": "Ohio", "NC": "North Carolina", "IN": "Indiana",
               "WA": "Washington", "CO": "Colorado", "DC": "District of Columbia", "TN": "Tennessee",
               "OK": "Oklahoma", "MA": "Massachusetts", "OR": "Oregon", "NV": "Nevada", "MI": "Michigan",
               "KY": "Kentucky", "MD": "Maryland", "WI": "Wisconsin", "NM": "New Mexico", "MO": "Missouri",
               "GA": "Georgia", "NE": "Nebraska", "MN": "Minnesota", "UT": "Utah", "VA": "Virginia",
               "ID": "Idaho", "IA": "Iowa", "ME": "Maine", "SC": "South Carolina", "VT": "Vermont",
               "ND": "North Dakota", "AK": "Alaska", "HI": "Hawaii", "CT": "Connecticut", "RI": "Rhode Island"}
SMALL_TOWNS = 400  # Faker-made town names beside the real cities: where many small businesses are
SMALL_TOWN_SHARE = 0.3  # of companies

DESCRIPTORS = """Premier American National First United Summit Pioneer Apex Liberty Allied Advanced Global
Pacific Atlantic Central Midwest Southern Northern Western Eastern Coastal Mountain Valley River Lakeside Riverside
Bayside Harbor Golden Silver Blue Green Red Eagle Falcon Phoenix Evergreen Oak Maple Cedar Pine Willow Heritage
Legacy Patriot Frontier Keystone Cornerstone Landmark Horizon Vista Sunrise Sunset Bright Clear Precision Quality
Superior Elite Prime Pinnacle Crown Royal Capital Metro Urban City County Family Community Trinity Unity Harmony
Integrity Reliable Trusted Complete Total Smart Innovative Dynamic Strategic Creative Modern Classic Express Rapid
Guardian Shield Beacon Lighthouse Anchor Compass Northstar Keystone Granite Stone Iron Steel Copper Diamond Crystal
Emerald Sapphire Titan Atlas Orion Vertex Zenith Meridian Cascade Sierra Alpine Prairie Canyon Desert Gulf Bay
Tri-State Interstate Continental Omega Alpha Delta Sigma Nova Astra Aurora""".split()
TRADES = """Dental|Plumbing|Electric|Construction|Consulting|Logistics|Realty|Insurance|Financial|Capital|Partners
Solutions|Systems|Technologies|Software|Networks|Media|Marketing|Design|Engineering|Manufacturing|Industries
Supply|Distribution|Foods|Catering|Auto Repair|Motors|Transport|Freight|Healthcare|Medical|Family Medicine
Pediatrics|Chiropractic|Physical Therapy|Veterinary Clinic|Animal Hospital|Pharmacy|Labs|Legal|Law Group|Accounting
Tax Services|Wealth Management|Mortgage|Title|Roofing|Landscaping|HVAC|Heating & Cooling|Pest Control
Cleaning Services|Staffing|Security|Printing|Signs|Furniture|Flooring|Cabinets|Windows & Doors|Glass
Home Health|Senior Living|Fitness|Dance Studio|Academy|Learning Center|Montessori|Church|Credit Union|Bank
Energy|Solar|Environmental|Waste Services|Moving & Storage|Properties|Development|Holdings|Ventures|Group
Hospitality|Travel|Events|Photography|Studios|Architects|Surveying|Machine Works|Fabrication|Welding|Tool & Die
Packaging|Plastics|Chemical|Electronics|Telecom|Data|Analytics|Cloud|IT Services|Communications|Outfitters""".replace(
    "\n", "|").split("|")
INDUSTRIES = {"Dental": "Healthcare", "Medical": "Healthcare", "Healthcare": "Healthcare", "Pharmacy": "Healthcare",
              "Software": "Technology", "Technologies": "Technology", "Systems": "Technology", "Data": "Technology",
              "Cloud": "Technology", "IT Services": "Technology", "Financial": "Finance", "Bank": "Finance",
              "Capital": "Finance", "Insurance": "Insurance", "Construction": "Construction", "Roofing": "Construction",
              "Manufacturing": "Manufacturing", "Industries": "Manufacturing", "Realty": "Real Estate",
              "Properties": "Real Estate", "Legal": "Legal", "Law Group": "Legal", "Consulting": "Consulting"}
LEGAL = ["Inc", "LLC", "Corp", "Co", "Group", "Ltd", "LLP", "and Sons", "PLC"]
LEGAL_P = np.array([30, 38, 8, 5, 8, 4, 3, 2, 2], dtype=float)
# How exports spell each legal form: the variants a copy may be written with.
LEGAL_VARIANTS = {"Inc": ["Inc.", ", Inc.", ", Inc", "Incorporated", "INC"], "LLC": ["L.L.C.", ", LLC", "Llc"],
                  "Corp": ["Corp.", "Corporation", ", Corp."], "Co": ["Co.", "Company", "& Co."],
                  "Ltd": ["Ltd.", "Limited"], "LLP": ["L.L.P.", ", LLP"], "PLC": ["plc", "P.L.C."]}
STREET_TYPES = [("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Boulevard", "Blvd"),
                ("Lane", "Ln"), ("Way", "Way"), ("Court", "Ct"), ("Place", "Pl"), ("Parkway", "Pkwy"),
                ("Highway", "Hwy"), ("Circle", "Cir")]
STREET_P = np.array([30, 20, 12, 12, 6, 5, 4, 3, 3, 2, 2, 1], dtype=float)
STREET_WORDS = """Main Oak Maple Pine Cedar Elm Washington Park Lake Hill Church Market Center Industrial Commerce
Lincoln Jefferson Madison Franklin River Spring Sunset Highland Meadow Ridge Forest Valley Broadway Mill Union
Grand Front Water Walnut Chestnut Cherry Jackson Adams Wilson Harrison Monroe Airport Technology Corporate""".split()
PERSONAL_DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "comcast.net",
                    "msn.com", "att.net"]
PERSONAL_P = np.array([52, 17, 9, 8, 5, 5, 2, 1, 1], dtype=float)
FUNCTIONS = ["Sales", "Marketing", "Finance", "Operations", "IT", "Human Resources", "Engineering", "Procurement",
             "Customer Service", "Legal", "Administration", "Facilities"]
FUNCTION_P = np.array([22, 12, 10, 14, 10, 7, 9, 5, 5, 2, 3, 1], dtype=float)
TITLE_FORMS = ["{f} Manager", "Director of {f}", "VP of {f}", "VP, {f}", "Senior {f} Manager", "{f} Specialist",
               "{f} Coordinator", "Head of {f}", "{f} Analyst", "{f} Associate", "Senior {f} Specialist",
               "{f} Director", "{f} Assistant"]
TITLE_P = np.array([20, 10, 4, 2, 6, 12, 10, 3, 10, 8, 5, 6, 4], dtype=float)
PHONE_FORMATS = np.array([35, 30, 10, 15, 10], dtype=float)  # (312) 555-0100, 312-555-0100, 312.555.0100, +1..., digits
PHONE_P = PHONE_FORMATS / PHONE_FORMATS.sum()
SOURCES = ("crm", "marketing", "events")


@dataclass
class CRM:
    """A generated export: the two canonical frames, the true pairs per entity, and the truth per
    row (which company an account row is, which person a contact row is) for measuring it."""

    accounts: pd.DataFrame
    contacts: pd.DataFrame
    truth: dict[str, set[Pair]]
    company: np.ndarray  # per account row: its true company
    person: np.ndarray  # per contact row: its true person
    works_at: np.ndarray  # per contact row: the true company of its person

    def datasets(self) -> dict[str, pd.DataFrame]:
        return {"account": self.accounts, "contact": self.contacts}


def _weighted(table: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    names = np.array(list(table), dtype=object)
    weights = np.array(list(table.values()), dtype=float)
    return names, weights / weights.sum()


def _series(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _cities(rng: np.random.Generator) -> pd.DataFrame:
    """Real cities at their population weights, and a tail of Faker-made small towns in their
    states, which together hold SMALL_TOWN_SHARE of the weight."""
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.person.en_US import Provider as Person

    rows = [line.split(",") for line in CITIES.replace("\n", "|").split("|")]
    real = pd.DataFrame(rows, columns=["city", "state", "area", "zip3", "people"])
    real["weight"] = real["people"].astype(float)
    real["weight"] *= (1 - SMALL_TOWN_SHARE) / real["weight"].sum()
    firsts = np.array(list(Person.first_names_male) + list(Person.first_names_female), dtype=object)
    lasts = np.array(list(Person.last_names), dtype=object)
    prefixes = np.array(Address.city_prefixes, dtype=object)
    suffixes = np.array(Address.city_suffixes, dtype=object)
    form = rng.integers(0, 4, SMALL_TOWNS * 2)
    first, last = rng.choice(firsts, len(form)), rng.choice(lasts, len(form))
    prefix, suffix = rng.choice(prefixes, len(form)), rng.choice(suffixes, len(form))
    towns = np.where(form == 0, prefix + " " + first + suffix, np.where(
        form == 1, prefix + " " + first, np.where(form == 2, first + suffix, last + suffix)))
    towns = pd.unique(towns)[:SMALL_TOWNS]
    near = real.iloc[rng.integers(0, len(real), len(towns))].reset_index(drop=True)
    weight = 1 / np.arange(1, len(towns) + 1)
    small = pd.DataFrame({"city": towns, "state": near["state"], "area": near["area"], "zip3": near["zip3"],
                          "weight": weight * SMALL_TOWN_SHARE / weight.sum()})
    return pd.concat([real.drop(columns="people"), small], ignore_index=True)


def _phone_text(numbers: np.ndarray, forms: np.ndarray) -> np.ndarray:
    """Ten-digit numbers written in one of the PHONE_FORMATS ways each."""
    digits = pd.Series(numbers.astype(np.int64)).astype(str)
    area, exchange, line = digits.str[:3], digits.str[3:6], digits.str[6:]
    out = np.select(
        [forms == 0, forms == 1, forms == 2, forms == 3],
        ["(" + area + ") " + exchange + "-" + line, area + "-" + exchange + "-" + line,
         area + "." + exchange + "." + line, "+1 " + area + " " + exchange + " " + line],
        digits).astype(object)
    out[numbers < 0] = None
    return out


def _new_numbers(rng: np.random.Generator, areas: np.ndarray, taken: set[int]) -> np.ndarray:
    """A phone number per entry in `areas` (area codes), none used before (`taken`, updated):
    strangers do not share a number."""
    out = areas.astype(np.int64) * 10_000_000 + rng.integers(2_000_000, 10_000_000, len(areas))
    while True:
        _, first = np.unique(out, return_index=True)
        clash = np.ones(len(out), dtype=bool)
        clash[first] = False
        if taken:
            clash |= np.isin(out, np.fromiter(taken, dtype=np.int64, count=len(taken)))
        if not clash.any():
            break
        out[clash] = areas[clash].astype(np.int64) * 10_000_000 + rng.integers(2_000_000, 10_000_000, clash.sum())
    taken.update(out.tolist())
    return out


def _per_value(values: pd.Series, function) -> pd.Series:
    """`function` (over a text Series) done once per distinct value: names repeat a lot."""
    codes, distinct = pd.factorize(values)
    done = function(pd.Series(distinct, dtype=object)).to_numpy(dtype=object)
    out = done[codes]
    out[codes < 0] = None
    return pd.Series(out, index=values.index, dtype=object)


def _slug(names: pd.Series) -> pd.Series:
    return _per_value(names, lambda v: v.str.lower().str.replace(r"[^a-z0-9]", "", regex=True))


def _initial(names: pd.Series) -> pd.Series:
    return _per_value(names, lambda v: v.str[:1])


def _sizes(rng: np.random.Generator, people: int) -> np.ndarray:
    """Contacts per company, Zipf-like (P(k) ~ k^-1.8, at most `cap`), adding up to `people`."""
    cap = int(np.clip(people // 40, 20, 5000))
    k = np.arange(1, cap + 1)
    p = k ** -1.8
    p /= p.sum()
    mean = (k * p).sum()
    sizes = rng.choice(k, int(people / mean * 1.2) + 10, p=p)
    total = np.cumsum(sizes)
    count = int(np.searchsorted(total, people)) + 1
    sizes = sizes[:count]
    sizes[-1] -= total[count - 1] - people
    return sizes[sizes > 0]


def _companies(rng: np.random.Generator, count: int, cities: pd.DataFrame, last: tuple) -> pd.DataFrame:
    """`count` companies: name, legal form, domain, switchboard, address, city."""
    lasts, last_p = last
    where = rng.choice(len(cities), count, p=cities["weight"].to_numpy())
    city = cities.iloc[where].reset_index(drop=True)
    descriptor_p = 1 / (np.arange(len(DESCRIPTORS)) + 8)
    trade_p = 1 / (np.arange(len(TRADES)) + 10)
    kind = rng.choice(4, count, p=[0.25, 0.12, 0.05, 0.58])  # Faker's three forms, descriptor + trade
    l1, l2, l3 = (rng.choice(lasts, count, p=last_p) for _ in range(3))
    descriptor = rng.choice(np.array(DESCRIPTORS, dtype=object), count, p=descriptor_p / descriptor_p.sum())
    trade = rng.choice(np.array(TRADES, dtype=object), count, p=trade_p / trade_p.sum())
    base = np.select([kind == 0, kind == 1, kind == 2], [l1, l1 + "-" + l2, l1 + ", " + l2 + " and " + l3],
                     descriptor + " " + trade).astype(object)
    suffix = rng.choice(np.array(LEGAL, dtype=object), count, p=LEGAL_P / LEGAL_P.sum())
    has_suffix = (kind == 0) | ((kind == 3) & (rng.random(count) < 0.55))
    name = np.where(has_suffix, base + " " + suffix, base).astype(object)
    # Two different companies of one name in one city happen, but rarely: most are renamed.
    frame = pd.DataFrame({"base": base, "name": name, "city": city["city"], "state": city["state"]})
    again = frame.duplicated(["name", "city", "state"]).to_numpy() & (rng.random(count) < 0.9)
    qualifier = rng.choice(np.array(["of " + c for c in ["America", "the " + "Midwest", "Texas"]] + [
        "Associates", "Partners", "Services", "Co"], dtype=object), again.sum())
    base[again] = base[again] + " " + qualifier
    name[again] = np.where(has_suffix[again], base[again] + " " + suffix[again], base[again])
    # Websites from the name: one domain per company. A name's second company takes its city,
    # later ones a word or their state as real ones do (summitdentalaustin.com,
    # summitdentalgroup.net, summitdental-tx.com); a number only when all of those are taken.
    stem = np.where(kind == 2, l1 + l2, base)
    slug = _slug(pd.Series(stem, dtype=object)).to_numpy(dtype=object)
    tlds = np.array([".com", ".net", ".org", ".co", ".us"], dtype=object)
    tld_p = [.8, .08, .04, .04, .04]
    domain = slug + rng.choice(tlds, count, p=tld_p)
    taken = pd.Series(domain).duplicated().to_numpy()
    domain[taken] = slug[taken] + _slug(city["city"][taken]).to_numpy(dtype=object) + ".com"
    words = np.array(["group", "inc", "co", "usa", "hq", "pros", "team", "online", "corp", "llc", "services", "home",
                      "now", "today", "local", "experts", "works", "hub", "central", "direct"], dtype=object)
    states = ("-" + city["state"].str.lower()).to_numpy(dtype=object)
    for attempt in range(8):
        taken = pd.Series(domain).duplicated().to_numpy()
        if not taken.any():
            break
        k = taken.sum()
        middle = np.where(rng.random(k) < 0.3, states[taken], rng.choice(words, k))
        if attempt >= 5:
            middle = middle + pd.Series(rng.integers(2, 100, k)).astype(str).to_numpy()
        domain[taken] = slug[taken] + middle + rng.choice(tlds, k, p=tld_p)
    street_type = rng.choice(len(STREET_TYPES), count, p=STREET_P / STREET_P.sum())
    word_p = 1 / (np.arange(len(STREET_WORDS)) + 3)
    word = np.where(rng.random(count) < 0.6, rng.choice(np.array(STREET_WORDS, dtype=object), count,
                                                         p=word_p / word_p.sum()), rng.choice(lasts, count, p=last_p))
    number = rng.integers(1, 100, count) * np.where(rng.random(count) < 0.7, rng.integers(1, 100, count), 1)
    street = (pd.Series(number).astype(str) + " " + word + " "
              + np.array([full for full, _ in STREET_TYPES], dtype=object)[street_type]).to_numpy(dtype=object)
    suite = rng.random(count) < 0.25
    street[suite] = street[suite] + " Suite " + pd.Series(rng.integers(1, 30, suite.sum()) * 100).astype(str).to_numpy()
    postal = city["zip3"].to_numpy(dtype=object) + pd.Series(rng.integers(1, 99, count)).astype(str).str.zfill(
        2).to_numpy()
    return pd.DataFrame({"name": name, "kind": kind, "suffix": np.where(has_suffix, suffix, None), "domain": domain,
                         "street": street, "city": city["city"], "state": city["state"], "postal": postal,
                         "area": city["area"].astype(int), "trade": np.where(kind == 3, trade, None)})


def _typo(rng: np.random.Generator, values: pd.Series) -> pd.Series:
    """One slip of the keyboard in each value: a letter dropped, doubled, swapped with its
    neighbour or replaced by another (never the first letter)."""
    letters = "abcdefghijklmnopqrstuvwxyz"

    def slip(value, kind: int, at: float, letter: int):
        if not isinstance(value, str) or len(value) < 3:
            return value
        i = 1 + int(at * (len(value) - 2))
        if kind == 0:
            return value[:i] + value[i + 1:]
        if kind == 1:
            return value[:i] + value[i] + value[i:]
        if kind == 2:
            return value[:i] + value[i + 1] + value[i] + value[i + 2:]
        return value[:i] + letters[letter] + value[i + 1:]

    n = len(values)
    kinds, ats, subs = rng.integers(0, 4, n), rng.random(n), rng.integers(0, 26, n)
    return pd.Series([slip(v, k, a, s) for v, k, a, s in zip(values, kinds, ats, subs, strict=True)],
                     index=values.index, dtype=object)


def _nicknames() -> dict[str, list[str]]:
    from nicknames import name_triplets

    found: dict[str, list[str]] = defaultdict(list)
    for t in name_triplets():
        if t.relationship == "has_nickname":
            found[t.name1].append(t.name2.title())
    return found


def _local_parts(rng: np.random.Generator, first: pd.Series, last: pd.Series, pattern: np.ndarray) -> pd.Series:
    f, lname = _slug(first), _slug(last)
    fi = _initial(f)
    out = np.select([pattern == 0, pattern == 1, pattern == 2, pattern == 3, pattern == 4, pattern == 5],
                    [f + "." + lname, fi + lname, f, f + _initial(lname), f + "_" + lname, fi + "." + lname],
                    lname + fi)
    return pd.Series(out, index=first.index, dtype=object)


def _personal(rng: np.random.Generator, first: pd.Series, last: pd.Series) -> pd.Series:
    """Personal addresses (gmail.com ...): a name with or without digits, unique per person."""
    n = len(first)
    f, lname = _slug(first), _slug(last)
    fi = _initial(f)
    form = rng.integers(0, 5, n)
    digits = pd.Series(rng.integers(1, 99, n)).astype(str).to_numpy()
    year = pd.Series(rng.integers(1955, 2003, n)).astype(str).to_numpy()
    local = np.select([form == 0, form == 1, form == 2, form == 3],
                      [f + "." + lname, f + lname + digits, fi + lname + digits, f + "." + lname + year],
                      lname + fi + digits)
    domain = rng.choice(np.array(PERSONAL_DOMAINS, dtype=object), n, p=PERSONAL_P / PERSONAL_P.sum())
    email = pd.Series(local + "@" + domain, index=first.index, dtype=object)
    nth = email.groupby(email).cumcount()
    again = nth > 0
    email[again] = (pd.Series(local, index=first.index)[again] + (nth[again] + 100).astype(str) + "@"
                    + pd.Series(domain, index=first.index)[again])
    return email


def _blank(values: pd.Series, mask: np.ndarray) -> pd.Series:
    values = values.copy()
    values[mask] = None
    return values


def _datetimes(rng: np.random.Generator, n: int, start: str = "2012-01-01", years: float = 12) -> np.ndarray:
    seconds = rng.integers(0, int(years * 365.25 * 86400), n)
    stamps = pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")
    return stamps.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)


def _provenance(frame: pd.DataFrame, entity: str) -> pd.DataFrame:
    frame["_file"] = frame["_source"] + f"_{entity}s.csv"
    frame["_row"] = (frame.groupby("_source").cumcount() + 2).astype(str)  # row 1 is the header
    return frame


def _clusters(rng: np.random.Generator, originals: int, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """Which record each of `copies` copies is of: 85% of them copy a distinct original, the
    others copy one of those copies (clusters of three and more, drifting further). Returns the
    copied row (in originals + copies numbering) and the original (cluster) of each copy."""
    first = min(originals, max(1, int(copies * 0.85)))
    source = np.empty(copies, dtype=np.int64)
    source[:first] = rng.choice(originals, first, replace=False)
    root = source.copy()
    for start in range(first, copies, max(1, first)):
        stop = min(copies, start + first)
        pick = rng.integers(0, start, stop - start)
        source[start:stop] = originals + pick
        root[start:stop] = root[pick]
    return source, root


def _truth(ids: np.ndarray, entity_of: np.ndarray) -> set[Pair]:
    order = np.argsort(entity_of, kind="stable")
    groups = np.split(ids[order], np.flatnonzero(np.diff(entity_of[order])) + 1)
    return {pair(a, b) for g in groups if len(g) > 1 for a, b in combinations(g.tolist(), 2)}


def _vary_company_name(rng: np.random.Generator, name: pd.Series, base: pd.Series, suffix: pd.Series) -> pd.Series:
    """Another way of writing each company's name: the legal form spelled otherwise, dropped or
    added, the case changed, '&' for 'and', a typo."""
    n = len(name)
    out = name.copy()
    roll = rng.random(n)
    has = suffix.notna().to_numpy()
    variant = pd.Series([rng.choice(LEGAL_VARIANTS[s]) if s in LEGAL_VARIANTS else s for s in suffix.fillna("")],
                        index=name.index, dtype=object)
    respelled = has & (roll < 0.45)
    out[respelled] = [b + (v if v.startswith(",") else " " + v) for b, v in zip(base[respelled], variant[respelled],
                                                                                  strict=True)]
    dropped = has & (roll >= 0.45) & (roll < 0.7)
    out[dropped] = base[dropped]
    added = ~has & (roll < 0.35)
    out[added] = base[added] + rng.choice(np.array([" Inc", " LLC", ", Inc.", " Co."], dtype=object), added.sum())
    upper = rng.random(n) < 0.15
    out[upper] = out[upper].str.upper()
    amp = rng.random(n) < 0.5
    out[amp] = out[amp].str.replace(" and ", " & ", regex=False)
    typo = rng.random(n) < 0.08
    out[typo] = _typo(rng, out[typo])
    the = rng.random(n) < 0.03
    out[the] = "The " + out[the]
    return out


def _abbreviate(rng: np.random.Generator, street: pd.Series) -> pd.Series:
    """Street types abbreviated ("Street" -> "St." or "St") or spelled out, suites written otherwise."""
    full_to_short = {full: short for full, short in STREET_TYPES if full != short}
    short_to_full = {short: full for full, short in full_to_short.items()}
    pattern = re.compile(r"\b(" + "|".join(list(full_to_short) + list(short_to_full)) + r")\b\.?")
    dot = rng.random(len(street)) < 0.5

    def swap(value, with_dot: bool):
        if not isinstance(value, str):
            return value

        def one(m: re.Match) -> str:
            word = m.group(1)
            if word in full_to_short:
                return full_to_short[word] + ("." if with_dot else "")
            return short_to_full[word]
        value = pattern.sub(one, value, count=1)
        return value.replace(" Suite ", " Ste " if with_dot else " #")

    return pd.Series([swap(v, d) for v, d in zip(street, dot, strict=True)], index=street.index, dtype=object)


def _website(rng: np.random.Generator, domain: pd.Series) -> pd.Series:
    """A domain as exports write it: bare, www., http(s)://, a trailing slash."""
    form = rng.choice(5, len(domain), p=[0.35, 0.3, 0.15, 0.15, 0.05])
    d = domain.to_numpy(dtype=object)
    out = np.select([form == 0, form == 1, form == 2, form == 3],
                    [d, "www." + d, "http://www." + d, "https://www." + d], "https://" + d + "/")
    return pd.Series(out, index=domain.index, dtype=object)


def _accounts(rng: np.random.Generator, companies: pd.DataFrame, sizes: np.ndarray, taken: set[int]
              ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The account rows: one per company, then ~5% copies (a company's records in another
    system, its name and address written otherwise). Returns them, the company of each row and
    the switchboard number of each company."""
    n = len(companies)
    switchboard = _new_numbers(rng, companies["area"].to_numpy(), taken)
    forms = rng.choice(5, n, p=PHONE_P)
    base = companies["name"].copy()
    has = companies["suffix"].notna()
    base[has] = [nm[: -len(s) - 1] for nm, s in zip(companies["name"][has], companies["suffix"][has], strict=True)]
    industry = companies["trade"].map(INDUSTRIES).to_numpy(dtype=object)
    guess = pd.isna(industry) & (rng.random(n) < 0.6)
    industry[guess] = rng.choice(np.array(["Technology", "Manufacturing", "Retail", "Services", "Healthcare",
                                           "Finance", "Education", "Construction", "Transportation", "Hospitality"],
                                          dtype=object), guess.sum())
    industry[pd.isna(industry)] = None
    owners = _owners(rng)
    country = rng.choice(np.array(["US", "USA", "United States"], dtype=object), n, p=[0.6, 0.25, 0.15])
    accounts = pd.DataFrame({
        "id": [f"A{i:07d}" for i in range(n)], "name": companies["name"], "parent_id": None,
        "industry": industry, "phone": _phone_text(switchboard, forms), "website": _website(rng, companies["domain"]),
        "email": np.where(rng.random(n) < 0.3, "info@" + companies["domain"], None),
        "billing_street": companies["street"], "billing_city": companies["city"],
        "billing_postal_code": companies["postal"], "billing_state": companies["state"], "billing_country": country,
        "owner": rng.choice(owners, n), "created_at": _datetimes(rng, n),
        "_source": rng.choice(np.array(SOURCES[:2], dtype=object), n, p=[0.9, 0.1]),
    }).astype(object)
    accounts["website"] = _blank(accounts["website"], rng.random(n) < 0.15)
    accounts["phone"] = _blank(accounts["phone"], rng.random(n) < 0.1)
    accounts["billing_street"] = _blank(accounts["billing_street"], rng.random(n) < 0.1)
    # Copies: companies with more contacts were entered more often.
    copies = max(1, round(n * 0.05 / 0.95))
    weight = np.log1p(sizes).astype(float)
    first = min(n, max(1, int(copies * 0.85)))  # one copy: of one original (int(0.85) is none)
    chosen = rng.choice(n, first, replace=False, p=weight / weight.sum())
    source, root = _clusters(rng, first, copies)
    source = np.where(source < first, chosen[np.minimum(source, first - 1)], n + source - first)
    root = chosen[root]
    made = accounts
    for start in range(0, copies, max(1, first)):  # copies of copies come after what they copy
        stop = min(copies, start + first)
        take = source[start:stop]
        copy = made.iloc[take].copy().reset_index(drop=True)
        company = root[start:stop]
        m = len(copy)
        copy["id"] = [f"A{n + i:07d}" for i in range(start, stop)]
        copy["name"] = _vary_company_name(rng, copy["name"],
                                          pd.Series(base.iloc[company].values, dtype=object),
                                          pd.Series(companies["suffix"].iloc[company].values, dtype=object))
        copy["website"] = np.where(rng.random(m) < 0.25, None,
                                   _website(rng, pd.Series(companies["domain"].iloc[company].values, dtype=object)))
        copy["phone"] = np.where(rng.random(m) < 0.25, None,
                                 _phone_text(switchboard[company], rng.choice(5, m, p=PHONE_P)))
        copy["billing_street"] = np.where(rng.random(m) < 0.15, None, _abbreviate(
            rng, pd.Series(companies["street"].iloc[company].values, dtype=object)))
        postal = copy["billing_postal_code"].astype(object)
        plus4 = rng.random(m) < 0.1
        postal[plus4] = postal[plus4] + "-" + pd.Series(rng.integers(1000, 9999, plus4.sum())).astype(str).to_numpy()
        copy["billing_postal_code"] = np.where(rng.random(m) < 0.1, None, postal)
        state = copy["billing_state"]
        copy["billing_state"] = np.where(rng.random(m) < 0.3, state.map(STATE_NAMES).fillna(state), state)
        copy["billing_city"] = np.where(rng.random(m) < 0.1, copy["billing_city"].str.upper(), copy["billing_city"])
        copy["billing_country"] = rng.choice(np.array(["US", "USA", "United States", None], dtype=object), m,
                                             p=[0.4, 0.2, 0.2, 0.2])
        copy["email"] = np.where(rng.random(m) < 0.5, None, copy["email"])
        copy["created_at"] = _datetimes(rng, m, "2018-01-01", 6)
        copy["_source"] = rng.choice(np.array(SOURCES, dtype=object), m, p=[0.5, 0.3, 0.2])
        made = pd.concat([made, copy], ignore_index=True)
    company = np.concatenate([np.arange(n), root])
    return made.astype(object), company, switchboard


def _owners(rng: np.random.Generator) -> np.ndarray:
    from faker.providers.person.en_US import Provider as Person

    firsts, _ = _weighted(Person.first_names_female | Person.first_names_male)
    lasts, _ = _weighted(Person.last_names)
    return rng.choice(firsts, 40) + " " + rng.choice(lasts, 40)


def make_crm(contacts: int, seed: int = 7) -> CRM:
    """About `contacts` contact rows (a tenth of them duplicates) with their accounts; see the
    module's docstring for what is modelled."""
    from faker.providers.person.en_US import Provider as Person

    rng = np.random.default_rng(seed)
    male, male_p = _weighted(Person.first_names_male)
    female, female_p = _weighted(Person.first_names_female)
    lasts, last_p = _weighted(Person.last_names)
    people = contacts - contacts // 10
    sizes = _sizes(rng, people)
    cities = _cities(rng)
    companies = _companies(rng, len(sizes), cities, (lasts, last_p))
    taken: set[int] = set()
    accounts, account_company, switchboard = _accounts(rng, companies, sizes, taken)

    # The people, company by company.
    works_at = np.repeat(np.arange(len(sizes)), sizes)
    woman = rng.random(people) < 0.5
    first = pd.Series(np.where(woman, rng.choice(female, people, p=female_p), rng.choice(male, people, p=male_p)),
                      dtype=object)
    last = pd.Series(rng.choice(lasts, people, p=last_p), dtype=object)
    # A company writes its addresses one way; the small ones often first@.
    pattern_p = np.array([55, 20, 4, 5, 4, 5, 7], dtype=float)
    pattern = rng.choice(7, len(sizes), p=pattern_p / pattern_p.sum())
    pattern[(pattern == 2) & (sizes > 15)] = 0
    local = _local_parts(rng, first, last, pattern[works_at])
    nth = local.groupby([works_at, local.to_numpy()]).cumcount().to_numpy()
    local = local.where(nth == 0, local + (nth + 1).astype(str))
    domain = companies["domain"].to_numpy(dtype=object)[works_at]
    work = local + "@" + domain
    personal = _personal(rng, first, last)
    kind = rng.choice(3, people, p=[0.78, 0.12, 0.10])  # work, personal, none
    email = pd.Series(np.where(kind == 0, work, np.where(kind == 1, personal, None)), dtype=object)
    area = companies["area"].to_numpy()[works_at]
    direct = _new_numbers(rng, area, taken)
    line = rng.choice(3, people, p=[0.45, 0.3, 0.25])  # direct, switchboard, none
    phone_number = np.where(line == 0, direct, np.where(line == 1, switchboard[works_at], -1))
    phone_form = rng.choice(5, people, p=PHONE_P)
    phone = _phone_text(phone_number, phone_form)
    extension = (line == 1) & (rng.random(people) < 0.15)
    phone[extension] = phone[extension] + " ext. " + pd.Series(rng.integers(100, 999, extension.sum())).astype(
        str).to_numpy()
    mobile_area = cities["area"].astype(int).to_numpy()[rng.choice(len(cities), people, p=cities["weight"].to_numpy())]
    mobile_number = np.where(rng.random(people) < 0.35, _new_numbers(rng, mobile_area, taken), -1)
    mobile = _phone_text(mobile_number, rng.choice(5, people, p=PHONE_P))
    function = rng.choice(len(FUNCTIONS), people, p=FUNCTION_P / FUNCTION_P.sum())
    title = _titles(rng, function)
    office = rng.random(people) < 0.65
    at_account = np.flatnonzero(account_company < len(sizes))  # the first account row of each company
    account_id = accounts["id"].to_numpy(dtype=object)[at_account][works_at]
    # Contacts of a company entered twice point to either of its accounts.
    twin = _twins(rng, account_company, accounts["id"].to_numpy(dtype=object), len(sizes))
    moved = np.array([bool(twin[c]) for c in works_at]) & (rng.random(people) < 0.35)
    account_id[moved] = [twin[c][rng.integers(len(twin[c]))] for c in works_at[moved]]
    frame = pd.DataFrame({
        "id": [f"C{i:07d}" for i in range(people)], "account_id": account_id, "first_name": first,
        "last_name": last, "email": email, "phone": phone, "mobile": mobile, "title": title,
        "department": np.array(FUNCTIONS, dtype=object)[function],
        "mailing_street": np.where(office, companies["street"].to_numpy(dtype=object)[works_at], None),
        "mailing_city": np.where(office | (rng.random(people) < 0.3),
                                 companies["city"].to_numpy(dtype=object)[works_at], None),
        "mailing_postal_code": np.where(office, companies["postal"].to_numpy(dtype=object)[works_at], None),
        "mailing_state": np.where(office, companies["state"].to_numpy(dtype=object)[works_at], None),
        "mailing_country": np.where(office, "US", None),
        "owner": accounts["owner"].to_numpy(dtype=object)[at_account][works_at],
        "created_at": _datetimes(rng, people),
        "_source": rng.choice(np.array(SOURCES, dtype=object), people, p=[0.8, 0.15, 0.05]),
    }).astype(object)
    made, person = _contact_copies(rng, frame, contacts - people, work, personal, switchboard[works_at],
                                   direct, twin, works_at)
    order = rng.permutation(len(made))
    made = made.iloc[order].reset_index(drop=True)
    person = person[order]
    company_of_row = works_at[person]
    made = _text(_provenance(made, "contact"))
    accounts = _text(_provenance(accounts, "account"))
    truth = {"account": _truth(accounts["id"].to_numpy(dtype=object), account_company),
             "contact": _truth(made["id"].to_numpy(dtype=object), person)}
    return CRM(accounts, made, truth, account_company, person, company_of_row)


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, None where blank (as canonical frames have it)."""
    out = {}
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        out[name] = values
    return pd.DataFrame(out, dtype=object)


def _titles(rng: np.random.Generator, function: np.ndarray) -> np.ndarray:
    form = rng.choice(len(TITLE_FORMS), len(function), p=TITLE_P / TITLE_P.sum())
    f = np.array(FUNCTIONS, dtype=object)[function]
    out = np.empty(len(function), dtype=object)
    for k, text in enumerate(TITLE_FORMS):
        at = form == k
        head, _, tail = text.partition("{f}")
        out[at] = head + f[at] + tail
    chief = rng.random(len(function)) < 0.02
    out[chief] = rng.choice(np.array(["CEO", "CFO", "COO", "CTO", "President", "Owner", "Founder"], dtype=object),
                            chief.sum())
    return out


def _twins(rng: np.random.Generator, account_company: np.ndarray, ids: np.ndarray, companies: int) -> list[list]:
    """Per company, the ids of its account copies (none for most)."""
    twins: list[list] = [[] for _ in range(companies)]
    for row in np.flatnonzero(np.arange(len(account_company)) >= companies):
        twins[account_company[row]].append(ids[row])
    return twins


def _contact_copies(rng: np.random.Generator, frame: pd.DataFrame, copies: int, work: pd.Series,
                    personal: pd.Series, switchboard: np.ndarray, direct: np.ndarray, twin: list[list],
                    works_at: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """`copies` more records of people already in `frame`, varied as re-entered records are."""
    people = len(frame)
    source, root = _clusters(rng, people, copies)
    nick = _nicknames()
    made = frame
    first_batch = min(people, max(1, int(copies * 0.85)))  # as _clusters batches them
    for start in range(0, copies, max(1, first_batch)):
        stop = min(copies, start + first_batch)
        copy = made.iloc[source[start:stop]].copy().reset_index(drop=True)
        who = root[start:stop]
        m = len(copy)
        copy["id"] = [f"C{people + i:07d}" for i in range(start, stop)]
        first, last = copy["first_name"].copy(), copy["last_name"].copy()
        roll = rng.random(m)
        # First name: a nickname, an initial, blank, a typo.
        nickname = roll < 0.15
        options = [nick.get(str(v).lower(), []) for v in first[nickname]]
        first[nickname] = [o[rng.integers(len(o))] if o else v for o, v in zip(options, first[nickname], strict=True)]
        initial = (roll >= 0.15) & (roll < 0.19)
        first[initial] = first[initial].str[:1] + np.where(rng.random(initial.sum()) < 0.5, ".", "")
        first[(roll >= 0.19) & (roll < 0.23)] = None
        slip = (roll >= 0.23) & (roll < 0.29)
        first[slip] = _typo(rng, first[slip])
        slip = rng.random(m) < 0.06
        last[slip] = _typo(rng, last[slip])
        swap = rng.random(m) < 0.03
        first[swap], last[swap] = last[swap].to_numpy(), first[swap].to_numpy()
        case = rng.random(m)
        last[case < 0.04] = last[case < 0.04].str.upper()
        lower = (case >= 0.04) & (case < 0.06)
        first[lower], last[lower] = first[lower].str.lower(), last[lower].str.lower()
        copy["first_name"], copy["last_name"] = first, last
        # Email: missing, the other of work and personal, another case, a typo.
        email = copy["email"].copy()
        roll = rng.random(m)
        email[roll < 0.25] = None
        other = (roll >= 0.25) & (roll < 0.37)
        is_work = copy["email"].to_numpy() == work.to_numpy()[who]
        email[other & is_work] = personal.to_numpy()[who][other & is_work]
        email[other & ~is_work] = work.to_numpy()[who][other & ~is_work]
        cased = (roll >= 0.37) & (roll < 0.42) & email.notna().to_numpy()
        # A copy of a copy may hold an earlier copy's typo, '@' dropped: title-case it whole.
        email[cased] = ["".join(part.title() for part in e.partition("@")) for e in email[cased]]
        slip = (roll >= 0.42) & (roll < 0.44) & email.notna().to_numpy()
        email[slip] = _typo(rng, email[slip])
        copy["email"] = email
        # Phones: missing, another format, the switchboard for the direct line.
        roll = rng.random(m)
        number = np.where(copy["phone"].isna(), -1, direct[who])
        board = (roll >= 0.35) & (roll < 0.42)
        number = np.where(board, switchboard[who], number)
        was_board = copy["phone"].notna().to_numpy() & ~pd.Series(copy["phone"]).str.replace(
            r"\D", "", regex=True).str[-10:].eq(pd.Series(direct[who]).astype(str)).to_numpy()
        number = np.where(was_board & ~board, switchboard[who], number)
        reformat = rng.choice(5, m, p=PHONE_P)
        phone = _phone_text(number, reformat)
        keep = (roll >= 0.42) & (roll < 0.7)  # written as before
        phone[keep] = copy["phone"].to_numpy()[keep]
        phone[roll < 0.35] = None
        copy["phone"] = phone
        mobile = copy["mobile"].to_numpy().copy()
        digits = pd.Series(mobile).str.replace(r"\D", "", regex=True).str[-10:]
        reformat = rng.random(m) < 0.4
        mobile_number = np.where(digits.notna(), pd.to_numeric(digits, errors="coerce").fillna(-1), -1).astype(np.int64)
        mobile[reformat] = _phone_text(mobile_number[reformat], rng.choice(5, reformat.sum(),
                                                                          p=PHONE_P))
        mobile[rng.random(m) < 0.3] = None
        copy["mobile"] = mobile
        # Title and department: often another by now.
        retitle = rng.random(m) < 0.3
        function = rng.choice(len(FUNCTIONS), retitle.sum(), p=FUNCTION_P / FUNCTION_P.sum())
        copy.loc[retitle, "title"] = _titles(rng, function)
        copy.loc[retitle, "department"] = np.where(rng.random(retitle.sum()) < 0.5,
                                                   np.array(FUNCTIONS, dtype=object)[function],
                                                   copy.loc[retitle, "department"])
        copy["department"] = np.where(rng.random(m) < 0.3, None, copy["department"])
        # Address: gone, or the street abbreviated.
        gone = rng.random(m) < 0.3
        for column in ("mailing_street", "mailing_city", "mailing_postal_code", "mailing_state", "mailing_country"):
            copy[column] = np.where(gone, None, copy[column])
        short = rng.random(m) < 0.25
        copy.loc[short, "mailing_street"] = _abbreviate(rng, copy.loc[short, "mailing_street"])
        # The account: the same company, either of its account records when it has two.
        company = works_at[who]
        repoint = rng.random(m) < 0.5
        for i in np.flatnonzero(repoint):
            choices = twin[company[i]]
            if choices:
                copy.at[i, "account_id"] = choices[rng.integers(len(choices))]
        copy["created_at"] = _datetimes(rng, m, "2018-01-01", 6)
        copy["_source"] = rng.choice(np.array(SOURCES, dtype=object), m, p=[0.5, 0.3, 0.2])
        made = pd.concat([made, copy], ignore_index=True)
    person = np.concatenate([np.arange(people), root])
    return made.astype(object), person


def namesakes(crm: CRM) -> dict[str, float]:
    """How often, among the true people (one record each: the first), a full name is shared:
    with a person at another company, with another person at the same company; and the share
    of people whose full name is unique."""
    people = pd.DataFrame({"person": crm.person, "company": crm.works_at,
                           "name": crm.contacts["first_name"].astype(str).str.lower() + " "
                           + crm.contacts["last_name"].astype(str).str.lower()})
    people = people[crm.contacts["id"].str[1:].astype(int).to_numpy() < len(np.unique(crm.person))]
    people = people.drop_duplicates("person")
    per_name = people.groupby("name")["company"].agg(["size", "nunique"])
    at_name = per_name.loc[people["name"]]
    other_company = (at_name["nunique"].to_numpy() > 1)
    same_company = people.duplicated(["name", "company"], keep=False).to_numpy()
    return {"people": len(people), "shared_with_other_company": float(other_company.mean()),
            "shared_within_company": float(same_company.mean()),
            "unique_name": float((at_name["size"].to_numpy() == 1).mean()),
            "largest_name_group": int(per_name["size"].max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for rows in args.contacts:
        start = time.perf_counter()
        crm = make_crm(rows, args.seed)
        seconds = time.perf_counter() - start
        shares = namesakes(crm)
        sizes = np.bincount(crm.works_at)
        print(f"{len(crm.contacts):,} contacts ({len(crm.truth['contact']):,} true pairs), {len(crm.accounts):,} "
              f"accounts ({len(crm.truth['account']):,} true pairs) in {seconds:.1f} s; "
              f"largest company {sizes.max():,} contacts, median {int(np.median(sizes))}")
        print(f"  people {shares['people']:,}: full name shared with someone at another company "
              f"{shares['shared_with_other_company']:.1%}, with a colleague {shares['shared_within_company']:.2%}, "
              f"unique {shares['unique_name']:.1%}; largest namesake group {shares['largest_name_group']:,}")


if __name__ == "__main__":
    main()
