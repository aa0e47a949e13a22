#!/usr/bin/env python3
"""Generate the sample legacy exports in this folder and truth.json, which says what was planted.

Deterministic: one fixed seed, no clock, no environment. Stdlib plus openpyxl only, so it runs
before crmmigrate is installed. Usage: python samples/generate.py [--out DIR]

Every value is generated clean first (a person, a company, a phone number as digits) and then
rendered in the legacy file's own "house" format. Dirt is planted afterwards by picking rows and
overwriting one column, and each planting is recorded in truth.json at the same moment, so the
truth file cannot drift from the data. Formatting dirt (fixable by cleaning) and invalid values
(errors the validation gate must count) are kept in separate lists.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import random
import re
import sqlite3
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter

SEED = 20240301
HERE = Path(__file__).resolve().parent
# Exports are dated; a fixed "as of" keeps every generated date reproducible.
AS_OF = datetime(2024, 3, 1, 18, 0, 0)

# Threshold per class, from DESIGN.md. Used only to check that every planted rate is clearly on
# one side of its threshold; tests/test_samples.py checks the classes against crmmigrate.model.
THRESHOLDS = {"general": 0.05, "key": 0.01, "pointer": 0.01, "lead": 0.20}
KEY_FIELDS = {("account", "name"), ("contact", "last_name"), ("opportunity", "name")}
POINTER_FIELDS = {
    ("account", "parent_id"),
    ("contact", "account_id"),
    ("opportunity", "account_id"),
    ("opportunity_contact_role", "opportunity_id"),
    ("opportunity_contact_role", "contact_id"),
    ("case", "account_id"),
    ("case", "contact_id"),
    ("activity", "related_id"),
}
# A planted rate must be under LOW or over HIGH times its threshold: never borderline.
LOW, HIGH = 0.6, 1.5


def threshold_class(entity: str, field: str) -> str:
    if entity == "lead":
        return "lead"
    if field == "id" or (entity, field) in KEY_FIELDS:
        return "key"
    if (entity, field) in POINTER_FIELDS:
        return "pointer"
    return "general"


# --------------------------------------------------------------------------------------------
# Truth: every planting goes through here.


class Truth:
    def __init__(self) -> None:
        self.files: dict[str, dict] = {}
        self.duplicates: dict[str, list] = {"account": [], "contact": [], "lead": []}
        self.lead_contact_matches: list[dict] = []
        self.hard_negatives: list[dict] = []
        self.orphans: list[dict] = []
        self.invalid: list[dict] = []
        self.formatting: list[dict] = []


class Table:
    """The rows of one legacy file, keyed by legacy column, plus what was planted in them.

    Rows also carry private "_" keys (the clean value behind a rendered one) that are never
    written; they let a later planting compute the expected cleaned value.
    """

    def __init__(self, truth: Truth, path: str, entity: str, columns: dict[str, str | None],
                 id_column: str, rng: random.Random) -> None:
        self.truth, self.path, self.entity = truth, path, entity
        self.columns = list(columns)
        self.mapping = columns
        self.id_column = id_column
        self.rng = rng
        self.rows: list[dict] = []
        # (row index, column) already dirtied, so two plantings never overwrite each other.
        self.touched: set[tuple[int, str]] = set()

    def legacy_id(self, row: dict) -> str:
        return str(row[self.id_column])

    def pick(self, column: str, n: int, where=lambda row: True) -> list[dict]:
        pool = [i for i, r in enumerate(self.rows)
                if (i, column) not in self.touched and r.get(column) not in (None, "") and where(r)]
        chosen = sorted(self.rng.sample(pool, n))
        self.touched.update((i, column) for i in chosen)
        return [self.rows[i] for i in chosen]

    def _entry(self, row: dict, column: str, **extra) -> dict:
        return {"entity": self.entity, "file": self.path, "legacy_id": self.legacy_id(row),
                "column": column, "field": self.mapping[column], **extra}

    def invalid(self, row: dict, column: str, kind: str, value, **extra) -> None:
        row[column] = value
        self.touched.add((self.rows.index(row), column))
        self.truth.invalid.append(self._entry(row, column, kind=kind, value=value, **extra))

    def orphan(self, row: dict, column: str, value) -> None:
        row[column] = value
        self.touched.add((self.rows.index(row), column))
        self.truth.orphans.append(self._entry(row, column, value=value))

    def formatting(self, row: dict, column: str, kind: str, value, expected) -> None:
        row[column] = value
        self.touched.add((self.rows.index(row), column))
        self.truth.formatting.append(
            self._entry(row, column, kind=kind, value=value, expected=expected))

    def plant_invalid(self, column: str, kind: str, values: list, where=lambda row: True) -> None:
        for row, value in zip(self.pick(column, len(values), where), values, strict=True):
            self.invalid(row, column, kind, value)

    def plant_missing(self, column: str, n: int, where=lambda row: True) -> None:
        for row in self.pick(column, n, where):
            self.invalid(row, column, "missing_required", "")

    def record(self, *, fmt: str, encoding: str | None, delimiter: str | None = None,
               header_row: int | None = None, sheet: str | None = None, table: str | None = None,
               rejects: list | None = None, **extra) -> None:
        rejects = rejects or []
        records = len(self.rows) + len(rejects)
        self.truth.files[self.path] = {
            "entity": self.entity, "format": fmt, "encoding": encoding, "delimiter": delimiter,
            "header_row": header_row, "sheet": sheet, "table": table, "id_column": self.id_column,
            "records": records, "data_rows": len(self.rows), "columns": self.columns,
            "mapping": self.mapping, "rejects": rejects, **extra,
        }

    def clean_rows(self) -> list[dict]:
        return [{c: r.get(c) for c in self.columns} for r in self.rows]


# --------------------------------------------------------------------------------------------
# Vocabulary.

RU_CITIES = [  # city, region, area code, postcode prefix
    ("Москва", "Москва", "495", "101"), ("Москва", "Москва", "499", "117"),
    ("Санкт-Петербург", "Санкт-Петербург", "812", "190"), ("Новосибирск", "Новосибирская обл.", "383", "630"),
    ("Екатеринбург", "Свердловская обл.", "343", "620"), ("Казань", "Республика Татарстан", "843", "420"),
    ("Нижний Новгород", "Нижегородская обл.", "831", "603"), ("Краснодар", "Краснодарский край", "861", "350"),
    ("Калининград", "Калининградская обл.", "4012", "236"),
]
DE_CITIES = [("Berlin", "Berlin", "30"), ("Hamburg", "Hamburg", "40"), ("Muenchen", "Bayern", "89"),
             ("Frankfurt am Main", "Hessen", "69"), ("Koeln", "Nordrhein-Westfalen", "221"),
             ("Stuttgart", "Baden-Wuerttemberg", "711")]
US_CITIES = [("New York", "NY", "212"), ("San Francisco", "CA", "415"), ("Boston", "MA", "617"),
             ("Chicago", "IL", "312"), ("Austin", "TX", "512"), ("Seattle", "WA", "206")]
CN_CITIES = [("Shenzhen", "Guangdong", "755"), ("Hangzhou", "Zhejiang", "571"),
             ("Shanghai", "Shanghai", "21"), ("Beijing", "Beijing", "10"), ("Chengdu", "Sichuan", "28")]
FR_CITIES = [("Paris", "Ile-de-France", "1"), ("Bordeaux", "Nouvelle-Aquitaine", "5"), ("Lyon", "Auvergne-Rhone-Alpes", "4")]

# Country as the Russian legacy CRM holds it: whatever each user typed.
COUNTRY_FORMS = {
    "RU": ["Россия", "Россия", "Россия", "Russia", "RU", "РФ", "Russian Federation"],
    "DE": ["Germany", "Deutschland", "DE", "Германия"],
    "US": ["USA", "United States", "US", "США", "U.S.A."],
    "CN": ["China", "CN", "Китай"],
    "FR": ["France", "FR", "Франция"],
}
CALLING_CODES = {"RU": "7", "DE": "49", "US": "1", "CN": "86", "FR": "33", "ES": "34", "NO": "47", "PL": "48"}

RU_COMPANIES = """Ромашка|romashka Вектор|vektor Вектор-М|vektor-m Альфа-Строй|alfastroy
Альфа-Строй Инвест|as-invest Сибирь Логистик|siblog ТехноПарк|technopark-spb Волга-Агро|volga-agro
Уральские Сети|uralseti Северный Ветер|sevveter Медтехника|medtehnika Балтийский Берег|baltbereg
Кедр|kedr-nsk Гранит|granit-stone Орион|orion-group Меридиан|meridian-trade Полюс-Про|polus-pro
Радуга|raduga-print Спектр|spektr-lab Фортуна|fortuna-fin Эверест|everest-tour Янтарь|yantar-kld
Звезда|zvezda-market Сокол|sokol-avia Лотос|lotos-cosmetics Атлант|atlant-m Прогресс|progress-mash
Импульс|impuls-energo Магистраль|magistral-auto Континент|kontinent-it Агроком|agrokom
Дельта-Трейд|delta-trade Интерсвязь|intersvyaz Колос|kolos-hleb Мегаполис|megapolis-dev
Нева-Принт|neva-print Океан|okean-fish Пальмира|palmira-hotel Рубин|rubin-jewel Сапфир|sapfir-opt
Тайга|taiga-les Феникс|feniks-pro Химпром-Юг|himprom-yug Цифровые Решения|digisol
Электромонтаж|elektromontazh Югра-Нефтесервис|yugra-ns Ладога|ladoga-water Байкал-Тур|baikal-tour
Енисей|enisey-stroy Аврора|avrora-med Бриз|briz-clean Горизонт|gorizont-media Дон-Мебель|don-mebel
Каскад|kaskad-eng Восток-Сервис|vostok-service Гефест|gefest-metal Династия|dinastiya Жемчужина|zhemchuzhina
Заря|zarya-agro Исток|istok-water Кристалл|kristall-glass Лидер-Авто|lider-avto Маяк|mayak-port
Надежда|nadezhda-med Олимп|olimp-sport Парус|parus-yacht Русь-Транзит|rus-tranzit Сигнал|signal-sec
Триумф|triumf-event Урожай|urozhai Фрегат|fregat-ship Хронос|hronos-watch Чайка|chaika-tex
Штурман|shturman-nav Эталон|etalon-metr Юпитер|jupiter-it Стрела|strela-log Зенит-Лизинг|zenit-leasing
Берёзка|berezka-shop"""
RU_FORMS = ["ООО", "ООО", "ООО", "АО", "ПАО", "ЗАО"]

INTL_COMPANIES = [  # name, domain, country
    ("ACME Corporation", "acme.com", "US"), ("Acme Legal LLP", "acmelegal.com", "US"),
    ("Northwind Traders Inc.", "northwindtraders.com", "US"), ("Northwind Travel Inc.", "northwindtravel.com", "US"),
    ("Pinecrest Software Inc.", "pinecrest.io", "US"), ("Lakeside Medical LLC", "lakesidemed.com", "US"),
    ("Redwood Capital LLC", "redwoodcap.com", "US"), ("Summit Outdoor Corp.", "summitoutdoor.com", "US"),
    ("Blue Ridge Foods Inc.", "blueridgefoods.com", "US"), ("Harbor Point Insurance Inc.", "harborpoint.com", "US"),
    ("Silverline Telecom Inc.", "silverline.net", "US"), ("Prairie Wind Energy LLC", "prairiewind.com", "US"),
    ("Ironclad Security Corp.", "ironclad-sec.com", "US"), ("Brightpath Education Inc.", "brightpath.org", "US"),
    ("Globex Corporation", "globex.com", "US"), ("Initech LLC", "initech.com", "US"),
    ("Vandelay Industries Inc.", "vandelay.com", "US"), ("Cobaltline Robotics Inc.", "cobaltline.com", "US"),
    ("Maple Street Bakery LLC", "maplestreetbakery.com", "US"), ("Granite Peak Mining Corp.", "granitepeak.com", "US"),
    ("Oakridge Dental LLC", "oakridgedental.com", "US"), ("Copperfield Media Inc.", "copperfieldmedia.com", "US"),
    ("Bluewater Marine Corp.", "bluewatermarine.com", "US"), ("Evergreen Landscaping LLC", "evergreenland.com", "US"),
    ("Acme Logistics GmbH", "acme-logistics.de", "DE"), ("Bergmann Maschinenbau GmbH", "bergmann-mb.de", "DE"),
    ("Rheinland Logistik GmbH", "rheinland-logistik.de", "DE"), ("Hansa Textil AG", "hansatextil.de", "DE"),
    ("Schwarzwald Holz GmbH", "schwarzwald-holz.de", "DE"), ("Alpen Solar AG", "alpensolar.de", "DE"),
    ("Mueller & Soehne KG", "mueller-soehne.de", "DE"), ("Elbe Chemie GmbH", "elbechemie.de", "DE"),
    ("Nordlicht Software GmbH", "nordlicht.de", "DE"), ("Brandt Medizintechnik GmbH", "brandt-med.de", "DE"),
    ("Kessler Automotive AG", "kessler-auto.de", "DE"), ("Vogel Verpackung GmbH", "vogel-verpackung.de", "DE"),
    ("Isar Consulting GmbH", "isar-consulting.de", "DE"), ("Weser Werft AG", "weserwerft.de", "DE"),
    ("Falke Elektronik GmbH", "falke-elektronik.de", "DE"), ("Lindner Bau GmbH", "lindner-bau.de", "DE"),
    ("Shenzhen Huaxing Electronics Co., Ltd.", "huaxing-sz.cn", "CN"),
    ("Hangzhou Lianhe Textiles Co., Ltd.", "lianhe-textiles.cn", "CN"),
    ("Shanghai Dongfang Trading Co., Ltd.", "dongfang-trade.cn", "CN"),
    ("Guangzhou Tianma Machinery Co., Ltd.", "tianma-gz.cn", "CN"),
    ("Beijing Zhongke Software Co., Ltd.", "zhongke-soft.cn", "CN"),
    ("Chengdu Jinlong Foods Co., Ltd.", "jinlong-cd.cn", "CN"),
    ("Lumiere Conseil SARL", "lumiere-conseil.fr", "FR"), ("Bordeaux Vins SA", "bordeauxvins.fr", "FR"),
    ("Atelier Marchand SARL", "atelier-marchand.fr", "FR"), ("Sunrise Bakeries Inc.", "sunrisebakeries.com", "US"),
    ("Xiamen Baolai Ceramics Co., Ltd.", "baolai-ceramics.cn", "CN"),
]
INDUSTRIES = {  # legacy value -> canonical picklist value
    "Производство": "Manufacturing", "Manufacturing": "Manufacturing", "Розничная торговля": "Retail",
    "Retail": "Retail", "IT": "Technology", "ИТ": "Technology", "Логистика": "Transportation",
    "Logistics": "Transportation", "Финансы": "Finance", "Строительство": "Construction",
    "Медицина": "Healthcare", "Healthcare": "Healthcare", "Энергетика": "Energy", "Туризм": "Hospitality",
}
CRM_OWNERS = ["Иванова Е.", "Petrov A.", "Смирнов Д.", "Kuznetsova O.", "Фёдоров П.", "Lebedeva M."]
SALES_REPS = ["J. Smith", "A. Becker", "M. Ivanova", "L. Chen"]
AGENTS = ["agent01", "agent02", "agent07", "agent11", "agent15", "Zhang Wei", "Li Na"]

RU_MALE = "Иван Алексей Дмитрий Сергей Михаил Андрей Николай Павел Владимир Александр".split()
RU_FEMALE = "Мария Ольга Анна Елена Наталья Татьяна Екатерина Ирина Светлана Юлия".split()
RU_LAST = ("Иванов Петров Смирнов Кузнецов Попов Соколов Лебедев Козлов Новиков Морозов Волков "
           "Соловьев Васильев Зайцев Павлов Семенов Голубев Виноградов Богданов Воробьев Михайлов "
           "Федоров Никитин Орлов Макаров Андреев Ковалев Ильин Гусев Титов").split()
EN_FIRST = ("Robert Elizabeth William Margaret James Katherine Michael Jennifer Thomas Anthony Daniel "
            "Christopher Susan Richard Patricia Joseph Emily Sarah David Laura Mark Linda Steven Karen Paul").split()
EN_LAST = ("Smith Johnson Brown Taylor Walker Harris Clark Lewis Young Allen King Wright Scott Green "
           "Baker Adams Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards "
           "Collins Stewart Morris Rogers").split()
NICKNAMES = {
    "Robert": "Bob", "Elizabeth": "Liz", "William": "Bill", "Margaret": "Peggy", "James": "Jim",
    "Katherine": "Kate", "Michael": "Mike", "Jennifer": "Jen", "Thomas": "Tom", "Anthony": "Tony",
    "Daniel": "Dan", "Christopher": "Chris", "Susan": "Sue", "Richard": "Rick", "Patricia": "Pat",
    "Joseph": "Joe", "David": "Dave", "Steven": "Steve", "Александр": "Саша", "Дмитрий": "Дима",
    "Мария": "Маша", "Екатерина": "Катя", "Михаил": "Миша", "Наталья": "Наташа",
}
# Accented Latin names by culture: first names, last names, country of the person.
ACCENTED = {
    "DE": ("Jürgen Klaus Günther Stefan Sabine Jörg Katrin Uwe".split(),
           "Müller Schäfer Köhler Weber Becker Schröder Krüger Fischer".split()),
    "ES": ("José María Iñigo Lucía Andrés".split(), "García Núñez Peña López Fernández".split()),
    "FR": ("François Hélène Benoît Céline Jérôme".split(), "Lefèvre Dubois Girard Moreau Bérubé".split()),
    "NO": ("Bjørn Martin Søren Ingrid".split(), "Ødegaard Løvås Hansen Solberg".split()),
    "PL": ("Łukasz Małgorzata Zofia Paweł Krzysztof".split(), "Wójcik Kowalski Szymański Nowak Lewandowski".split()),
}
CN_FAMILY = [("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"),
             ("杨", "Yang"), ("赵", "Zhao"), ("黄", "Huang"), ("周", "Zhou"), ("吴", "Wu")]
CN_GIVEN = [("伟", "Wei"), ("娜", "Na"), ("敏", "Min"), ("洋", "Yang"), ("静", "Jing"),
            ("磊", "Lei"), ("丽", "Li"), ("强", "Qiang"), ("杰", "Jie"), ("芳", "Fang")]
TITLES = {
    "RU": ["Генеральный директор", "Менеджер по закупкам", "Главный бухгалтер", "Руководитель отдела продаж", "Инженер"],
    "EN": ["CEO", "Head of Purchasing", "CFO", "Sales Manager", "IT Director", "Office Manager"],
}
DEPARTMENTS = {"RU": ["Закупки", "Бухгалтерия", "Продажи", "ИТ", "Руководство"],
               "EN": ["Purchasing", "Finance", "Sales", "IT", "Management"]}

TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                    "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya".split()))

INVALID_EMAILS = ["ivan.petrov@", "@mail.ru", "maria@@yandex.ru", "john.smith.acme.com", "anna@mail",
                  "peter smith@globex.com", "j.doe@acme..com", "kontakt(at)firma.de", "info@", "sales@-bad-.com",
                  "нет почты", "o.kuznetsova@mail,ru", "bob@", "test@test@test.com", "zhang.wei@qq", ".lena@list.ru"]
INVALID_PHONES = ["123", "12-34", "+7 495", "000", "звонить секретарю", "ask reception", "1234567890123456789",
                  "+49 30", "5-5-5", "x", "0", "tel.", "99"]


# --------------------------------------------------------------------------------------------
# Small helpers.


def ascii_fold(text: str) -> str:
    text = text.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L").replace("ß", "ss")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def translit(text: str) -> str:
    out = "".join(TRANSLIT.get(ch, ch) for ch in text.lower()).replace("-", "")
    return ascii_fold(out)


def typo(rng: random.Random, word: str) -> str:
    """One keyboard slip in a word of 5+ letters: swap, drop or double a letter (never the first)."""
    i = rng.randrange(1, len(word) - 2)
    kind = rng.choice(["swap", "drop", "double"])
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def mojibake(text: str) -> str | None:
    """UTF-8 bytes read as cp1252, as a broken export does; None if cp1252 cannot hold them."""
    try:
        broken = text.encode("utf-8").decode("cp1252")
    except UnicodeDecodeError:
        return None
    return broken if broken != text else None


def rand_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def rand_dt(rng: random.Random, start: date, end: date) -> datetime:
    d = rand_date(rng, start, end)
    return datetime(d.year, d.month, d.day, rng.randrange(8, 19), rng.randrange(60), rng.randrange(60))


class Phone:
    """A phone number as country + national significant number; renders house and odd forms."""

    def __init__(self, country: str, nsn: str) -> None:
        self.country, self.nsn = country, nsn
        self.cc = CALLING_CODES[country]

    @property
    def e164(self) -> str:
        return f"+{self.cc}{self.nsn}"

    def _groups(self) -> list[str]:
        n = self.nsn
        if self.country == "RU":
            area = 4 if n.startswith("4012") else 3
            rest = n[area:]
            return [n[:area], rest[:-4], rest[-4:-2], rest[-2:]]
        if self.country == "US":
            return [n[:3], n[3:6], n[6:]]
        if self.country == "CN" and n.startswith("1"):
            return [n[:3], n[3:7], n[7:]]
        return [n[:2], n[2:5], n[5:]] if self.country == "PL" else [n[:-7], n[-7:]] if len(n) > 8 else [n[:1], n[1:]]

    def house(self) -> str:
        """International, spaced: how a well-kept CRM stores it."""
        g = self._groups()
        if self.country == "RU":
            return f"+7 ({g[0]}) {g[1]}-{g[2]}-{g[3]}"
        return f"+{self.cc} " + " ".join(g)

    def odd(self, rng: random.Random, with_country: bool) -> str:
        """A valid number in an odd form. Local forms need the record's country to be fixed."""
        g, n = self._groups(), self.nsn
        intl = [f"00{self.cc} {' '.join(g)}", f"+{self.cc}-{'-'.join(g)}", f"00{self.cc}{n}", f"tel. +{self.cc} {n}"]
        local: list[str] = []
        if self.country == "RU":
            local = [f"8 ({g[0]}) {g[1]}-{g[2]}-{g[3]}", f"8-{g[0]}-{''.join(g[1:])}", f"8{n}"]
        elif self.country == "DE":
            local = [f"0{g[0]} {g[1]}", f"0{g[0]}/{g[1]}", f"+49 (0){g[0]} {g[1]}"]
        elif self.country == "US":
            local = [f"({g[0]}) {g[1]}-{g[2]}", f"{g[0]}.{g[1]}.{g[2]}", f"1-{g[0]}-{g[1]}-{g[2]}"]
        elif self.country == "CN":
            local = ["-".join(g)] if n.startswith("1") else [f"(0{g[0]}) {''.join(g[1:])}"]
        return rng.choice(intl + local if with_country else intl)


def make_phone(rng: random.Random, country: str, area: str | None = None, mobile: bool = False) -> Phone:
    def digits(k: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(k))

    if country == "RU":
        prefix = rng.choice(["916", "903", "925", "985"]) if mobile or area is None else area
        return Phone("RU", prefix + str(rng.randrange(2, 10)) + digits(9 - len(prefix)))
    if country == "US":
        return Phone("US", (area or rng.choice(["212", "415", "617"])) + str(rng.randrange(2, 10)) + digits(6))
    if country == "DE":
        if mobile or area is None:
            return Phone("DE", rng.choice(["151", "160", "171"]) + digits(8))
        return Phone("DE", area + str(rng.randrange(2, 10)) + digits(6 if len(area) == 2 else 5))
    if country == "CN":
        if mobile or area is None:
            return Phone("CN", rng.choice(["138", "139", "186"]) + digits(8))
        return Phone("CN", area + str(rng.randrange(2, 10)) + digits(7))
    if country == "FR":
        return Phone("FR", (area or rng.choice(["6", "7"])) + digits(8))
    # ES, NO, PL persons: mobile numbers of their home country. The draws stay as they were
    # (so the rest of the samples does not shift); the leading digits are then set to a real
    # mobile range of the country's numbering plan (ES 6..., NO 9..., PL 50...).
    length = {"ES": 9, "NO": 8, "PL": 9}[country]
    drawn = str(rng.choice([6, 9, 4, 5])) + digits(length - 1)
    mobile_range = {"ES": "6", "NO": "9", "PL": "50"}[country]
    return Phone(country, mobile_range + drawn[len(mobile_range):])


# --------------------------------------------------------------------------------------------
# Accounts: samples/legacy_crm/accounts.csv


def build_accounts(truth: Truth, rng: random.Random) -> tuple[Table, dict]:
    cols = {"AccountID": "id", "Company Name": "name", "Parent Account": "parent_id", "Industry": "industry",
            "Phone": "phone", "Website": "website", "E-mail": "email", "Street": "billing_street",
            "City": "billing_city", "ZIP": "billing_postal_code", "Region": "billing_state",
            "Country": "billing_country", "Account Owner": "owner", "Created": "created_at"}
    t = Table(truth, "legacy_crm/accounts.csv", "account", cols, "AccountID", rng)

    bases = []
    # "core|domain" pairs; a core may hold spaces, a domain never does.
    for core, slug in re.findall(r"([^|\s][^|]*?)\|(\S+)", RU_COMPANIES):
        form = rng.choice(RU_FORMS)
        bases.append({"name": f"{form} «{core}»", "core": core, "form": form, "domain": slug + ".ru", "country": "RU"})
    for name, domain, country in INTL_COMPANIES:
        bases.append({"name": name, "core": name, "form": None, "domain": domain, "country": country})
    # The two famous clusters keep fixed spellings so the README can name them.
    romashka = next(b for b in bases if b["core"] == "Ромашка")
    romashka["name"], romashka["form"] = "ООО «Ромашка»", "ООО"

    for b in bases:
        c = b["country"]
        if c == "RU":
            city, region, area, zip_prefix = rng.choice(RU_CITIES)
            b["zip"] = zip_prefix + f"{rng.randrange(1000):03d}"
            b["street"] = f"ул. {rng.choice(['Ленина', 'Мира', 'Гагарина', 'Садовая', 'Новая', 'Лесная'])}, д. {rng.randrange(1, 120)}"
        else:
            city, region, area = rng.choice({"DE": DE_CITIES, "US": US_CITIES, "CN": CN_CITIES, "FR": FR_CITIES}[c])
            b["zip"] = f"{rng.randrange(10000, 99999)}" + ("0" if c == "CN" else "")
            b["street"] = {"DE": f"{rng.choice(['Hauptstr.', 'Bahnhofstr.', 'Industrieweg'])} {rng.randrange(1, 90)}",
                           "US": f"{rng.randrange(10, 9999)} {rng.choice(['Main St', 'Oak Ave', 'Market St', 'Pine Rd'])}",
                           "CN": f"No. {rng.randrange(1, 500)} {rng.choice(['Renmin Rd', 'Zhongshan Rd', 'Jiefang Ave'])}",
                           "FR": f"{rng.randrange(1, 90)} rue {rng.choice(['de la Paix', 'Victor Hugo', 'Pasteur'])}"}[c]
        b.update(city=city, region=region, phone=make_phone(rng, c, area))
        b["industry"] = rng.choice(list(INDUSTRIES))
        b["email"] = f"{rng.choice(['info', 'office', 'sales', 'contact'])}@{b['domain']}"
        b["website"] = rng.choice([f"www.{b['domain']}", f"http://www.{b['domain']}", f"https://{b['domain']}", b["domain"]])

    def suffix_variant(b: dict) -> str:
        if b["country"] == "RU":
            return rng.choice([f"{b['core']} {b['form']}", f"{b['form']} \"{b['core']}\"",
                               f"{b['form'].lower()} {b['core']}"])
        for long, short in [("Corporation", "Corp."), ("Corp.", "Corporation"), ("Inc.", "Incorporated"),
                            ("LLC", "L.L.C."), ("GmbH", "G.m.b.H."), ("Co., Ltd.", "Co. Ltd"), ("AG", "Aktiengesellschaft"),
                            ("SARL", "S.A.R.L."), ("SA", "S.A."), ("KG", "K.G.")]:
            if b["name"].endswith(" " + long):
                return b["name"][: -len(long)] + short
        return b["name"].upper()

    def typo_variant(b: dict) -> str:
        words = b["name"].split(" ")
        i = max(range(len(words)), key=lambda k: len(words[k].strip("«»\"")))
        words[i] = typo(rng, words[i])
        return " ".join(words)

    acme = next(b for b in bases if b["core"] == "ACME Corporation")
    clusters = [(acme, ["ACME Corp", "ACME Inc."], "legal_suffix"),
                (romashka, ["Ромашка ООО", "Общество с ограниченной ответственностью \"Ромашка\""], "legal_suffix")]
    hard = [("Acme Logistics GmbH", "Acme Legal LLP"), ("Northwind Traders Inc.", "Northwind Travel Inc."),
            ("Вектор", "Вектор-М"), ("Альфа-Строй", "Альфа-Строй Инвест"), ("ACME Corporation", "Acme Logistics GmbH")]
    reserved = {acme["core"], "Ромашка", "Acme Logistics GmbH", "Acme Legal LLP", "Northwind Traders Inc.",
                "Northwind Travel Inc.", "Вектор", "Вектор-М", "Альфа-Строй", "Альфа-Строй Инвест"}
    for b in rng.sample([b for b in bases if b["core"] not in reserved], 16):
        kind = rng.choice(["typo", "legal_suffix", "typo"])
        clusters.append((b, [typo_variant(b) if kind == "typo" else suffix_variant(b)], kind))

    rows = []
    for b in bases:
        b["row"] = {"_base": b, "Company Name": b["name"]}
        rows.append(b["row"])
    for b, names, kind in clusters:
        b["dups"] = []
        for name in names:
            row = {"_base": b, "Company Name": name, "_dup": kind}
            b["dups"].append(row)
            rows.append(row)
    rng.shuffle(rows)
    for i, row in enumerate(rows):
        b = row["_base"]
        row["AccountID"] = 1001 + i
        dup = "_dup" in row
        row.update({
            "Parent Account": "",
            "Industry": "" if dup and rng.random() < 0.4 else b["industry"],
            "_phone": b["phone"], "Phone": b["phone"].house() if not dup or rng.random() < 0.7 else "",
            "Website": b["website"] if not dup else rng.choice([b["domain"], f"www.{b['domain']}", ""]),
            "E-mail": b["email"] if rng.random() < 0.8 else "",
            "Street": b["street"], "City": b["city"], "ZIP": b["zip"], "Region": b["region"],
            "Country": rng.choice(COUNTRY_FORMS[b["country"]]),
            "Account Owner": rng.choice(CRM_OWNERS),
            "Created": rand_date(rng, date(2012, 1, 1), date(2023, 12, 31)).strftime("%d.%m.%Y"),
        })
    rows.sort(key=lambda r: r["AccountID"])
    t.rows = rows

    file = t.path
    for b, _, kind in clusters:
        members = [b["row"], *b["dups"]]
        truth.duplicates["account"].append({"members": [[file, str(r["AccountID"])] for r in members],
                                            "variations": [kind]})
    by_core = {b["core"]: b for b in bases}
    for left, right in hard:
        a, z = by_core[left], by_core[right]
        truth.hard_negatives.append({"entity": "account", "pair": [[file, str(a["row"]["AccountID"])],
                                                                   [file, str(z["row"]["AccountID"])]],
                                     "why": f"similar names, different companies: {a['name']} / {z['name']}"})

    # Hierarchy: holdings own a few subsidiaries in their country; a holding has no parent itself.
    in_cluster = {id(r) for b, _, _ in clusters for r in [b["row"], *b["dups"]]}
    plain = [r for r in rows if id(r) not in in_cluster]
    holdings = rng.sample(plain, 6)
    children_pool = [r for r in plain if r not in holdings]
    for h in holdings:
        same = [r for r in children_pool if r["_base"]["country"] == h["_base"]["country"] and not r["Parent Account"]]
        for child in rng.sample(same, min(4, len(same))):
            child["Parent Account"] = h["AccountID"]
    free = [r for r in children_pool if not r["Parent Account"] and r not in holdings
            and all(r2["Parent Account"] != r["AccountID"] for r2 in rows)]
    self_parent, loop_a, loop_b, *orphan_rows = rng.sample(free, 6)
    t.invalid(self_parent, "Parent Account", "hierarchy_cycle", self_parent["AccountID"], cycle=[str(self_parent["AccountID"])])
    cycle = [str(loop_a["AccountID"]), str(loop_b["AccountID"])]
    t.invalid(loop_a, "Parent Account", "hierarchy_cycle", loop_b["AccountID"], cycle=cycle)
    t.invalid(loop_b, "Parent Account", "hierarchy_cycle", loop_a["AccountID"], cycle=cycle)
    for row, value in zip(orphan_rows, [1999, 1277, 875], strict=True):
        t.orphan(row, "Parent Account", value)

    # Formatting dirt: fixable, with the value cleaning must produce.
    for row in t.pick("Phone", 10):
        t.formatting(row, "Phone", "phone_format", row["_phone"].odd(rng, with_country=True), row["_phone"].e164)
    for row in t.pick("E-mail", 4):
        email = row["E-mail"]
        t.formatting(row, "E-mail", "email_case_whitespace", rng.choice([f" {email.upper()}", f"{email.title()} "]), email)
    for row in t.pick("Company Name", 3, where=lambda r: "_dup" not in r and id(r) not in in_cluster):
        t.formatting(row, "Company Name", "whitespace", f"  {row['Company Name']} ", row["Company Name"])
    # Invalid values: account phone ~2% (under 5%), email ~1.3% (under 5%).
    t.plant_invalid("Phone", "invalid_phone", ["12-34", "звонить секретарю", "000"])
    t.plant_invalid("E-mail", "invalid_email", ["info@", "office@romashka,ru"])
    for row in t.rows:
        row.pop("_phone")

    value_maps = {"Country": {form: iso for iso, forms in COUNTRY_FORMS.items() for form in forms},
                  "Industry": INDUSTRIES}
    return t, {"value_maps": value_maps, "date_formats": {"Created": "%d.%m.%Y"}}


# --------------------------------------------------------------------------------------------
# People: one pool of distinct persons, shared by both contact sources and the leads.


class People:
    def __init__(self, rng: random.Random, accounts: list[dict]) -> None:
        self.rng = rng
        self.accounts = accounts
        self.used: set[tuple[str, str]] = set()

    def _name(self, culture: str) -> tuple[str, str, str, str]:
        """first, last, and their ASCII forms for e-mail addresses."""
        rng = self.rng
        if culture == "RU":
            female = rng.random() < 0.5
            first = rng.choice(RU_FEMALE if female else RU_MALE)
            last = rng.choice(RU_LAST) + ("а" if female else "")
            return first, last, translit(first), translit(last)
        if culture == "CN":
            (fam, fam_py), (giv, giv_py) = rng.choice(CN_FAMILY), rng.choice(CN_GIVEN)
            return giv, fam, giv_py.lower(), fam_py.lower()
        if culture in ACCENTED:
            firsts, lasts = ACCENTED[culture]
            first, last = rng.choice(firsts), rng.choice(lasts)
            return first, last, ascii_fold(first).lower(), ascii_fold(last).lower()
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        return first, last, first.lower(), last.lower()

    def person(self, account: dict | None = None, culture: str | None = None, name: tuple | None = None) -> dict:
        rng = self.rng
        if account is None and rng.random() < 0.85:
            account = rng.choice(self.accounts)
        country = account["_base"]["country"] if account else rng.choice(["RU", "US", "DE"])
        if culture is None:
            culture = rng.choices(*{"RU": (["RU", "EN"], [9, 1]), "US": (["EN", "ES", "FR"], [7, 2, 1]),
                                    "DE": (["DE", "PL", "NO", "EN"], [6, 2, 1, 1]),
                                    "CN": (["CN", "EN"], [8, 2]), "FR": (["FR", "EN"], [8, 2])}[country])[0]
        for attempt in range(200):
            if name is not None:
                break
            # A small name pool (Spanish, Norwegian...) can run out; English names never do.
            candidate = self._name(culture if attempt < 40 else "EN")
            if candidate[:2] not in self.used:
                name = candidate
        self.used.add(name[:2])
        first, last, first_ascii, last_ascii = name
        domain = account["_base"]["domain"] if account else rng.choice(["gmail.com", "mail.ru", "yandex.ru", "outlook.com"])
        local = rng.choice([f"{first_ascii}.{last_ascii}", f"{first_ascii[0]}.{last_ascii}", f"{last_ascii}{first_ascii[0]}"])
        phone_country = culture if culture in ("ES", "NO", "PL") and rng.random() < 0.5 else country
        lang = "RU" if country == "RU" else "EN"
        return {
            "first": first, "last": last, "culture": culture, "country": country, "account": account,
            "email": f"{local}@{domain}".replace(" ", ""),
            "phone": account["_phone_obj"] if account and rng.random() < 0.5 else make_phone(rng, country),
            "mobile": make_phone(rng, phone_country, mobile=True) if rng.random() < 0.7 else None,
            "title": rng.choice(TITLES[lang]), "department": rng.choice(DEPARTMENTS[lang]),
            "city": account["City"] if account else "",
        }


def name_variant(rng: random.Random, p: dict, kind: str) -> tuple[str, str]:
    first, last = p["first"], p["last"]
    if kind == "nickname":
        return NICKNAMES[first], last
    if kind == "typo":
        return (first, typo(rng, last)) if len(last) >= len(first) else (typo(rng, first), last)
    if kind == "case":
        return rng.choice([(first, last.upper()), (first.lower(), last.lower()), (first.upper(), last.upper())])
    if kind == "transposed":
        return last, first
    return first, last


def variant_kinds(p: dict) -> list[str]:
    """How a second record of this person may be written; Chinese names have no case or typos."""
    if p["culture"] == "CN":
        return ["transposed", "exact_name"]
    kinds = ["typo", "case", "transposed", "exact_name"]
    if p["first"] in NICKNAMES:
        kinds += ["nickname", "nickname"]
    if max(len(p["first"]), len(p["last"])) < 5:
        kinds.remove("typo")
    return kinds


# --------------------------------------------------------------------------------------------
# Contact source B: samples/legacy_crm/contacts.csv (UTF-8 with BOM)


CONTACT_B_COLS = {"ContactID": "id", "AccountID": "account_id", "First Name": "first_name",
                  "Last Name": "last_name", "Email": "email", "Phone": "phone", "Mobile": "mobile",
                  "Title": "title", "Department": "department", "Mailing Street": "mailing_street",
                  "Mailing City": "mailing_city", "Mailing Zip": "mailing_postal_code",
                  "Mailing State": "mailing_state", "Mailing Country": "mailing_country",
                  "Owner": "owner", "Created Date": "created_at", "Last Contacted": None}
CONTACT_A_COLS = {"No.": "id", "First Name": "first_name", "Last Name": "last_name", "Full Name": None,
                  "Company": None, "Acct #": "account_id", "Position": "title", "Department": "department",
                  "E-Mail": "email", "Phone": "phone", "Mobile": "mobile", "City": "mailing_city",
                  "Country": "mailing_country", "Date Added": "created_at", "Sales Rep": "owner"}
COUNTRY_EN = {"RU": ["Russia", "RU", "Russian Federation"], "US": ["USA", "US", "United States"],
              "DE": ["Germany", "DE", "Deutschland"], "CN": ["China", "CN"], "FR": ["France", "FR"]}


def contact_b_row(rng: random.Random, p: dict, first: str, last: str) -> dict:
    acc = p["account"]
    created = rand_dt(rng, date(2015, 1, 1), date(2023, 12, 31))
    # Commas inside an address ("ул. Мира, д. 5") make the writer quote the field.
    street = acc["Street"] if acc and rng.random() < 0.6 else ""
    return {
        "_person": p, "AccountID": acc["AccountID"] if acc else "", "First Name": first, "Last Name": last,
        "Email": p["email"], "_phone": p["phone"], "Phone": p["phone"].house(),
        "_mobile": p["mobile"], "Mobile": p["mobile"].house() if p["mobile"] else "",
        "Title": p["title"] if p["country"] != "RU" else rng.choice(["Director, Sales", "Head of Procurement", "Chief Accountant", "Engineer"]),
        "Department": rng.choice(["Sales, EMEA", "Purchasing", "Finance", "IT", ""]),
        "Mailing Street": street, "Mailing City": acc["City"] if acc else "",
        "Mailing Zip": acc["ZIP"] if acc and street else "", "Mailing State": "",
        "Mailing Country": rng.choice(COUNTRY_EN[p["country"]]) if acc else "",
        "Owner": rng.choice(CRM_OWNERS), "Created Date": created.strftime("%Y-%m-%d %H:%M:%S"),
        # Day and month both <= 12 in every value: the order cannot be decided from the data.
        "Last Contacted": f"{rng.randrange(1, 13):02d}/{rng.randrange(1, 13):02d}/{rng.choice([2022, 2023])}",
    }


def contact_a_row(rng: random.Random, p: dict, first: str, last: str) -> dict:
    acc = p["account"]
    return {
        "_person": p, "First Name": first, "Last Name": last,
        "Company": acc["_base"]["name"] if acc else "",
        "Acct #": acc["AccountID"] if acc and rng.random() < 0.8 else None,
        "Position": p["title"], "Department": p["department"] if rng.random() < 0.6 else None,
        "E-Mail": p["email"], "_phone": p["phone"], "Phone": p["phone"].house(),
        "_mobile": p["mobile"], "Mobile": p["mobile"].house() if p["mobile"] else None,
        "City": p["city"] or None, "Country": rng.choice(COUNTRY_EN[p["country"]]),
        "_created": rand_date(rng, date(2019, 1, 1), date(2024, 2, 28)),
        "Sales Rep": rng.choice(SALES_REPS),
    }


def build_contacts(truth: Truth, rng: random.Random, accounts: Table) -> tuple[Table, Table, People]:
    for row in accounts.rows:
        row["_phone_obj"] = Phone(row["_base"]["phone"].country, row["_base"]["phone"].nsn)
    people = People(rng, accounts.rows)
    b = Table(truth, "legacy_crm/contacts.csv", "contact", CONTACT_B_COLS, "ContactID", rng)
    a = Table(truth, "sales_reps/contacts.xlsx", "contact", CONTACT_A_COLS, "No.", rng)
    fb, fa = b.path, a.path
    cn_accounts = [r for r in accounts.rows if r["_base"]["country"] == "CN"]

    # Hard negatives: the same name, another company, another e-mail and phone.
    hard = []
    for _ in range(3):
        p1 = people.person(account=rng.choice(accounts.rows), culture=rng.choice(["RU", "EN"]))
        other = rng.choice([r for r in accounts.rows if r["_base"] is not p1["account"]["_base"]
                            and r["_base"]["country"] == p1["country"]])
        p2 = people.person(account=other, culture=p1["culture"],
                        name=(p1["first"], p1["last"], translit(p1["first"]), translit(p1["last"])))
        hard.append((p1, p2))

    b_people = [people.person() for _ in range(206)] + [people.person(account=rng.choice(cn_accounts), culture="CN") for _ in range(5)]
    a_people = [people.person() for _ in range(157)] + [people.person(account=rng.choice(cn_accounts), culture="CN") for _ in range(8)]
    shared = [people.person() for _ in range(22)] + [people.person(culture=c) for c in ["DE", "ES", "FR"]]

    b_rows, a_rows = [], []
    clusters = []  # (variations, [(table_name, row), ...])
    for p in b_people:
        b_rows.append(contact_b_row(rng, p, p["first"], p["last"]))
    for p in a_people:
        a_rows.append(contact_a_row(rng, p, p["first"], p["last"]))
    for p1, p2 in hard[:1]:
        b_rows += [contact_b_row(rng, p1, p1["first"], p1["last"]), contact_b_row(rng, p2, p2["first"], p2["last"])]
    for p1, p2 in hard[1:2]:
        b_rows.append(contact_b_row(rng, p1, p1["first"], p1["last"]))
        a_rows.append(contact_a_row(rng, p2, p2["first"], p2["last"]))
    for p1, p2 in hard[2:]:
        a_rows += [contact_a_row(rng, p1, p1["first"], p1["last"]), contact_a_row(rng, p2, p2["first"], p2["last"])]

    # The nicknames everyone tests first (Bob/Robert, Liz/Elizabeth) are there for certain.
    us_accounts = [r for r in accounts.rows if r["_base"]["country"] == "US"]
    nicknamed = [people.person(account=rng.choice(us_accounts), culture="EN", name=n)
                 for n in [("Robert", "Fairbanks", "robert", "fairbanks"), ("Elizabeth", "Whitmore", "elizabeth", "whitmore")]]
    shared += nicknamed

    # Cross-source duplicates: the same person in the CRM and in a rep's sheet, written differently.
    for p in shared:
        rb = contact_b_row(rng, p, p["first"], p["last"])
        kind = "nickname" if p in nicknamed else rng.choice(variant_kinds(p))
        ra = contact_a_row(rng, p, *name_variant(rng, p, kind))
        if rng.random() < 0.3:
            ra["E-Mail"] = None  # the rep never wrote it down: matching must use name and company
        b_rows.append(rb)
        a_rows.append(ra)
        clusters.append(([kind], [("b", rb), ("a", ra)]))
    # Within-source duplicates: 8 in the CRM (one a triple), 5 in the sheets.
    for i, p in enumerate(rng.sample(b_people, 8)):
        orig = next(r for r in b_rows if r["_person"] is p)
        members, kinds = [("b", orig)], []
        for _ in range(2 if i == 0 else 1):
            kind = rng.choice(variant_kinds(p))
            row = contact_b_row(rng, p, *name_variant(rng, p, kind))
            b_rows.append(row)
            members.append(("b", row))
            kinds.append(kind)
        clusters.append((kinds, members))
    for p in rng.sample(a_people, 5):
        orig = next(r for r in a_rows if r["_person"] is p)
        kind = rng.choice(variant_kinds(p))
        row = contact_a_row(rng, p, *name_variant(rng, p, kind))
        a_rows.append(row)
        clusters.append(([kind], [("a", orig), ("a", row)]))

    rng.shuffle(b_rows)
    rng.shuffle(a_rows)
    for i, row in enumerate(b_rows):
        row["ContactID"] = f"C-{20001 + i}"
    for i, row in enumerate(a_rows):
        row["No."] = i + 1
    b.rows, a.rows = b_rows, a_rows

    ref = {"a": (fa, "No."), "b": (fb, "ContactID")}
    for kinds, members in clusters:
        truth.duplicates["contact"].append({
            "members": [[ref[t][0], str(r[ref[t][1]])] for t, r in members], "variations": kinds})
    for (p1, p2), (t1, t2) in zip(hard, [("b", "b"), ("b", "a"), ("a", "a")], strict=True):
        r1 = next(r for r in (b_rows if t1 == "b" else a_rows) if r["_person"] is p1)
        r2 = next(r for r in (b_rows if t2 == "b" else a_rows) if r["_person"] is p2)
        truth.hard_negatives.append({
            "entity": "contact", "pair": [[ref[t1][0], str(r1[ref[t1][1]])], [ref[t2][0], str(r2[ref[t2][1]])]],
            "why": f"same name {p1['first']} {p1['last']}, different companies"})

    plant_contact_b(b, rng)
    plant_contact_a(a, rng)
    return a, b, people


def plant_contact_b(t: Table, rng: random.Random) -> None:
    # Mojibake: accented names that went through cp1252 on their way into the old CRM.
    # Mostly accented Latin ("MÃ¼ller"), a few Cyrillic ("Ð¢Ð¸Ñ‚Ð¾Ð²Ð°").
    def broken_column(row: dict, latin: bool) -> str | None:
        for col in ("Last Name", "First Name"):
            if mojibake(row[col]) and (row[col][0] < "\u0400") == latin:
                return col
        return None
    for latin, n in ((True, 5), (False, 3)):
        for row in rng.sample([r for r in t.rows if broken_column(r, latin)], n):
            col = broken_column(row, latin)
            t.formatting(row, col, "mojibake", mojibake(row[col]), row[col])
    fixable_phones(t, "Phone", 14, with_country=True)
    fixable_emails(t, "Email", 10)
    # Over: email invalid 20/250 = 8% (general 5%). Under: phone 5/250 = 2%, last name 1/250.
    t.plant_invalid("Email", "invalid_email", rng.sample(INVALID_EMAILS, 16) + ["bob@", "anna@mail", "info@", "@mail.ru"])
    t.plant_invalid("Phone", "invalid_phone", rng.sample(INVALID_PHONES, 5))
    t.plant_missing("Last Name", 1)
    for row in t.pick("AccountID", 1):
        t.orphan(row, "AccountID", 1850)


def plant_contact_a(t: Table, rng: random.Random) -> None:
    fixable_phones(t, "Phone", 12, with_country=True)
    fixable_emails(t, "E-Mail", 8)
    # Excel ate the plus sign and stored the number as a number: fixable with the row's country.
    for row in t.pick("Mobile", 4, where=lambda r: r["_mobile"] is not None):
        t.formatting(row, "Mobile", "phone_as_number", int(row["_mobile"].e164[1:]), row["_mobile"].e164)
    # Over: email invalid 16/200 = 8%. Under: phone 4/200 = 2% (two lost to Excel's scientific
    # notation), last name 1/200 = 0.5%, created date 2/200 = 1%.
    t.plant_invalid("E-Mail", "invalid_email", rng.sample(INVALID_EMAILS, 16))
    t.plant_invalid("Phone", "invalid_phone", ["7.91612E+10", "4.9151E+12", *rng.sample(INVALID_PHONES[:8], 2)])
    t.plant_missing("Last Name", 1)
    for row in t.pick("Acct #", 1):
        t.orphan(row, "Acct #", 1777)
    # Date Added: real Excel dates for most rows, text in three other formats for the rest.
    for row in t.rows:
        d = row.pop("_created")
        row["Date Added"] = rng.choices(
            [d, d.strftime("%d.%m.%Y"), d.strftime("%Y-%m-%d"), d.strftime("%d %b %Y")], [6, 2, 1, 1])[0]
    t.plant_invalid("Date Added", "bad_date", ["31.02.2023", "2023-13-05"], where=lambda r: isinstance(r["Date Added"], str))


def fixable_phones(t: Table, column: str, n: int, with_country: bool) -> None:
    for row in t.pick(column, n):
        phone = row["_phone"]
        t.formatting(row, column, "phone_format", phone.odd(t.rng, with_country), phone.e164)


def fixable_emails(t: Table, column: str, n: int) -> None:
    for row in t.pick(column, n):
        email = row[column]
        odd = t.rng.choice([email.upper(), f" {email}", f"{email} ", email[0].upper() + email[1:] + "  "])
        t.formatting(row, column, "email_case_whitespace", odd, email)


# --------------------------------------------------------------------------------------------
# Leads: samples/call_centre/leads.tsv (UTF-16 with BOM, tab)

LEAD_COLS = {"LeadNo": "id", "Created": "created_at", "First": "first_name", "Last": "last_name",
             "Company": "company", "Email": "email", "Phone": "phone", "Job Title": "title",
             "Lead Source": "source", "Status": "status", "Agent": "owner", "Notes": None}
LEAD_SOURCES = ["Web", "Cold Call", "Trade Show", "Referral", "Webinar"]
LEAD_STATUSES = ["New", "Contacted", "Qualified", "Unqualified"]
LEAD_NOTES = ["", "", "", "call back after 3pm", "interested in pricing", "met at trade show, wants demo",
              "asked for English-speaking manager", "no budget until Q3"]


def build_leads(truth: Truth, rng: random.Random, people: People, contacts_a: Table, contacts_b: Table) -> Table:
    t = Table(truth, "call_centre/leads.tsv", "lead", LEAD_COLS, "LeadNo", rng)

    def row_for(p: dict, first: str, last: str, company: str) -> dict:
        return {"_person": p, "Created": rand_date(rng, date(2023, 1, 1), date(2024, 2, 28)).strftime("%m/%d/%Y"),
                "First": first, "Last": last, "Company": company, "Email": p["email"],
                "_phone": p["phone"] if rng.random() < 0.5 or not p["mobile"] else p["mobile"],
                "Job Title": p["title"] if rng.random() < 0.7 else "",
                "Lead Source": rng.choice(LEAD_SOURCES), "Status": rng.choice(LEAD_STATUSES),
                "Agent": rng.choice(AGENTS), "Notes": rng.choice(LEAD_NOTES)}

    def company_of(p: dict) -> str:
        # Call-centre agents type the company as the caller says it, not as the CRM holds it.
        return p["account"]["_base"]["core"] if p["account"] else rng.choice(["Freelance", "Private person", "Self-employed"])

    rows, clusters, matches = [], [], []
    for _ in range(182):
        p = people.person(account=None)
        rows.append(row_for(p, p["first"], p["last"], company_of(p)))
    for orig in rng.sample(rows, 3):
        p = orig["_person"]
        kind = rng.choice(variant_kinds(p))
        dup = row_for(p, *name_variant(rng, p, kind), orig["Company"])
        rows.append(dup)
        clusters.append(([kind], [orig, dup]))
    # Leads that are people the CRM already knows as contacts.
    contact_rows = [("b", r) for r in rng.sample([r for r in contacts_b.rows if r["_person"]["account"]], 8)] + \
                   [("a", r) for r in rng.sample([r for r in contacts_a.rows if r["_person"]["account"]], 4)]
    for source, crow in contact_rows:
        p = crow["_person"]
        kind = rng.choice(variant_kinds(p))
        lead = row_for(p, *name_variant(rng, p, kind), company_of(p))
        rows.append(lead)
        matches.append((source, crow, lead, kind))
    # Hard negative: a lead with a contact's name, at another company, with other details.
    namesake = rng.choice([r for r in contacts_b.rows if r["_person"]["account"] and r["_person"]["culture"] == "EN"])
    cp = namesake["_person"]
    other = people.person(account=rng.choice([r for r in people.accounts if r["_base"] is not cp["account"]["_base"]]),
                          name=(cp["first"], cp["last"], cp["first"].lower(), cp["last"].lower()))
    hard_lead = row_for(other, cp["first"], cp["last"], company_of(other))
    rows.append(hard_lead)
    rows += [row_for(p, p["first"], p["last"], company_of(p)) for p in (people.person(account=None) for _ in range(2))]

    rng.shuffle(rows)
    for i, row in enumerate(rows):
        row["LeadNo"] = f"L-{30001 + i}"
        row["Phone"] = row["_phone"].house()
    t.rows = rows
    f = t.path
    for kinds, members in clusters:
        truth.duplicates["lead"].append({"members": [[f, r["LeadNo"]] for r in members], "variations": kinds})
    ref = {"a": (contacts_a.path, "No."), "b": (contacts_b.path, "ContactID")}
    for source, crow, lead, kind in matches:
        truth.lead_contact_matches.append({"lead": [f, lead["LeadNo"]],
                                           "contact": [ref[source][0], str(crow[ref[source][1]])], "variations": [kind]})
    truth.hard_negatives.append({"entity": "lead", "pair": [[f, hard_lead["LeadNo"]], [contacts_b.path, namesake["ContactID"]]],
                                 "why": f"lead and contact share the name {cp['first']} {cp['last']}, different companies"})

    # Leads are judged at 20%: email 24/200 = 12% and phone 8% would fail a 5% field but pass here.
    fixable_phones(t, "Phone", 15, with_country=False)
    fixable_emails(t, "Email", 10)
    t.plant_invalid("Email", "invalid_email", INVALID_EMAILS + rng.sample(INVALID_EMAILS, 8))
    t.plant_invalid("Phone", "invalid_phone", INVALID_PHONES + rng.sample(INVALID_PHONES, 3))
    t.plant_missing("Company", 10)
    t.plant_missing("Last", 4)
    t.plant_invalid("Created", "bad_date", ["13/45/2023", "02/30/2024"])
    return t


# --------------------------------------------------------------------------------------------
# Opportunities: samples/legacy_crm/opportunities.json

OPP_COLS = {"OppId": "id", "Name": "name", "Account.Id": "account_id", "Account.Name": None, "Stage": "stage",
            "Amount.Value": "amount", "Amount.Currency": "currency", "Probability": "probability",
            "CloseDate": "close_date", "CreatedDate": "created_at", "Owner.Name": "owner", "Owner.Email": None}
STAGES = [("Prospecting", 10), ("Qualification", 20), ("Proposal", 50), ("Negotiation", 75),
          ("Closed Won", 100), ("Closed Lost", 0)]
PRODUCTS = ["CRM licences", "Support renewal", "Implementation", "Hardware refresh", "Training",
            "Consulting", "Cloud migration", "Annual maintenance"]
CURRENCY_OF = {"RU": "RUB", "DE": "EUR", "US": "USD", "CN": "CNY", "FR": "EUR"}


def de_amount(value: float) -> str:
    return f"{value:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")


def build_opportunities(truth: Truth, rng: random.Random, accounts: Table) -> Table:
    t = Table(truth, "legacy_crm/opportunities.json", "opportunity", OPP_COLS, "OppId", rng)
    for i in range(300):
        acc = rng.choice(accounts.rows) if rng.random() < 0.95 else None
        stage, prob = rng.choice(STAGES)
        created = rand_dt(rng, date(2021, 1, 1), date(2023, 12, 31))
        close = (created + timedelta(days=rng.randrange(14, 270))).date()
        value = round(rng.uniform(500, 250000), 2) if rng.random() < 0.8 else float(rng.randrange(1, 500) * 1000)
        country = acc["_base"]["country"] if acc else "RU"
        owner = rng.choice(CRM_OWNERS)
        t.rows.append({
            "OppId": f"OPP-{40001 + i}", "_value": value,
            "Name": f"{acc['_base']['core'] if acc else 'New customer'} - {rng.choice(PRODUCTS)} {close.year}",
            "Account.Id": acc["AccountID"] if acc else None, "Account.Name": acc["Company Name"].strip() if acc else None,
            "Stage": stage, "Amount.Value": value, "Amount.Currency": CURRENCY_OF[country],
            "Probability": prob, "CloseDate": close.isoformat(), "CreatedDate": created.isoformat(),
            "Owner.Name": owner, "Owner.Email": f"{translit(owner.split()[0])}@oldcrm.local" if rng.random() < 0.6 else None,
            "_created": created,
        })
    # Amounts in the forms a decade of users typed: numbers, strings, comma decimal marks.
    for row in t.pick("Amount.Value", 60):
        v = row["_value"]
        odd = rng.choice([de_amount(v), f"{v:.2f}", f"{v:,.2f}".replace(",", " ").replace(".", ","), f"{v:.2f}".replace(".", ",")])
        t.formatting(row, "Amount.Value", "amount_format", odd, f"{v:.2f}")
    # Over: account pointer orphans 9/300 = 3% (pointer 1%). Under: close date 2 missing + 1 bad +
    # 5 before created = 8/300 = 2.7% (5%), amount 3/300 = 1%, stage 2/300.
    for row, value in zip(t.pick("Account.Id", 9), [1990 + k for k in range(9)], strict=True):
        t.orphan(row, "Account.Id", value)
    for row in t.pick("CloseDate", 5):
        created = row["_created"].date()
        t.invalid(row, "CloseDate", "close_before_created", (created - timedelta(days=rng.randrange(5, 90))).isoformat(),
                  created_at=row["CreatedDate"])
    t.plant_invalid("CloseDate", "bad_date", ["2024-02-30"])
    t.plant_missing("CloseDate", 2)
    t.plant_invalid("Amount.Value", "invalid_amount", ["TBD", "см. договор", "12k?"])
    t.plant_missing("Stage", 2)
    return t


def nest(row: dict, columns: list[str]) -> dict:
    """Flat dotted columns back to the nested objects the JSON dump has; an all-empty object is null."""
    out: dict = {}
    for col in columns:
        head, _, tail = col.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = row[col]
        else:
            out[head] = row[col]
    for key, value in out.items():
        if isinstance(value, dict) and all(v is None for v in value.values()):
            out[key] = None
    return out


# --------------------------------------------------------------------------------------------
# Opportunity contact roles: samples/legacy_crm/opportunity_contact_roles.csv (cp1252, pipe)

OCR_COLS = {"RoleID": "id", "OpportunityID": "opportunity_id", "ContactID": "contact_id", "Role": "role",
            "Primary": "is_primary", "Comment": None}
BOOL_FORMS = {"Yes": True, "No": False, "1": True, "0": False, "Ja": True, "Nein": False, "TRUE": True, "FALSE": False}
ROLES = ["Decision Maker", "Economic Buyer", "Technical Buyer", "Influencer", "Evaluator", "Executive Sponsor"]
# cp1252, not Latin-1: curly quotes, dashes and the euro sign are where the two differ.
OCR_COMMENTS = ["", "", "", "", "Müller’s team – see e-mail", "Décideur final", "€ budget approved",
                "„Ja“ vom Einkauf", "signs off > 50k", "Ansprechpartner für Technik"]


def build_ocr(truth: Truth, rng: random.Random, opps: Table, contacts_b: Table) -> Table:
    t = Table(truth, "legacy_crm/opportunity_contact_roles.csv", "opportunity_contact_role", OCR_COLS, "RoleID", rng)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < 350:
        opp = rng.choice(opps.rows)
        acc = opp["Account.Id"]
        # Mostly contacts of the opportunity's own account, as real role assignments are.
        same = [c for c in contacts_b.rows if c["AccountID"] == acc]
        contact = rng.choice(same) if same and rng.random() < 0.8 else rng.choice(contacts_b.rows)
        pairs.add((opp["OppId"], contact["ContactID"]))
    for i, (opp_id, contact_id) in enumerate(sorted(pairs)):
        t.rows.append({"RoleID": 50001 + i, "OpportunityID": opp_id, "ContactID": contact_id,
                       "Role": rng.choice(ROLES), "Primary": rng.choice(list(BOOL_FORMS)),
                       "Comment": rng.choice(OCR_COMMENTS)})
    # Over: contact pointer orphans 8/350 = 2.3% (pointer 1%). Under: opportunity pointer 2/350.
    for row, value in zip(t.pick("ContactID", 8), [f"C-{29001 + k}" for k in range(8)], strict=True):
        t.orphan(row, "ContactID", value)
    for row, value in zip(t.pick("OpportunityID", 2), ["OPP-49001", "OPP-49002"], strict=True):
        t.orphan(row, "OpportunityID", value)
    t.plant_invalid("Primary", "invalid_boolean", ["?", "vielleicht"])
    return t


# --------------------------------------------------------------------------------------------
# Cases: samples/call_centre/cases.csv (GBK)

CASE_COLS = {"CaseNo": "id", "AccountID": "account_id", "ContactID": "contact_id", "Subject": "subject",
             "Description": "description", "Status": "status", "Priority": "priority", "Origin": "origin",
             "Opened": "opened_at", "Closed": "closed_at"}
CASE_SUBJECTS = ["无法登录系统", "发票金额错误", "产品质量问题", "交货延迟", "退款申请", "账户被锁定",
                 "安装失败", "合同续签咨询", "Password reset", "报价单需要更新", "数据导出失败", "培训安排"]
CASE_DESCRIPTIONS = ["客户反映{s}。\n已转技术部处理。", "客户来电：{s}，要求尽快回复。",
                     "{s}\n客户编号已核实，\n等待回访。", "邮件反馈：{s}，附件见系统。", "{s}, see ticket history"]
CASE_STATUS = {"新建": "New", "处理中": "In Progress", "已关闭": "Closed"}
CASE_PRIORITY = {"高": "High", "中": "Medium", "低": "Low"}
CASE_ORIGIN = {"电话": "Phone", "邮件": "Email", "网站": "Web"}


def build_cases(truth: Truth, rng: random.Random, accounts: Table, contacts_b: Table) -> tuple[Table, dict]:
    t = Table(truth, "call_centre/cases.csv", "case", CASE_COLS, "CaseNo", rng)
    for i in range(200):
        contact = rng.choice(contacts_b.rows) if rng.random() < 0.7 else None
        # The contact's real account, not its AccountID column, which may hold a planted orphan.
        account = (contact["_person"]["account"] or {}).get("AccountID", "") if contact else rng.choice(accounts.rows)["AccountID"]
        subject = rng.choice(CASE_SUBJECTS)
        status = rng.choice(list(CASE_STATUS))
        opened = rand_dt(rng, date(2022, 1, 1), date(2024, 2, 20))
        closed = opened + timedelta(hours=rng.randrange(1, 400)) if status == "已关闭" else None
        t.rows.append({"CaseNo": 60001 + i, "AccountID": account, "ContactID": contact["ContactID"] if contact else "",
                       "Subject": subject, "Description": rng.choice(CASE_DESCRIPTIONS).format(s=subject),
                       "Status": status, "Priority": rng.choice(list(CASE_PRIORITY)), "Origin": rng.choice(list(CASE_ORIGIN)),
                       "Opened": opened.strftime("%Y-%m-%d %H:%M"), "Closed": closed.strftime("%Y-%m-%d %H:%M") if closed else "",
                       "_opened": opened})
    # Under: closed before opened 4/200 = 2%, subject 3/200, status 2/200, account orphan 1/200.
    for row in t.pick("Closed", 4):
        t.invalid(row, "Closed", "closed_before_opened",
                  (row["_opened"] - timedelta(hours=rng.randrange(2, 72))).strftime("%Y-%m-%d %H:%M"),
                  opened_at=row["Opened"])
    t.plant_missing("Subject", 3)
    t.plant_missing("Status", 2)
    for row in t.pick("AccountID", 1):
        t.orphan(row, "AccountID", 1888)
    value_maps = {"Status": CASE_STATUS, "Priority": CASE_PRIORITY, "Origin": CASE_ORIGIN}
    return t, {"value_maps": value_maps, "date_formats": {"Opened": "%Y-%m-%d %H:%M", "Closed": "%Y-%m-%d %H:%M"}}


def render_cases(t: Table, rng: random.Random) -> tuple[bytes, list]:
    """Write the CSV and plant one ragged record (an unquoted comma), noting the line it starts on."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(t.columns)
    ragged_at = rng.randrange(120, 180)
    rejects = []
    for i, row in enumerate(t.clean_rows()):
        if i == ragged_at:
            line = buf.getvalue().count("\n") + 1
            # The agent typed a comma in a field the old system never quoted: one field too many.
            bad = {**row, "CaseNo": 60999, "Description": "客户要求退款"}
            fields = [bad[c] for c in t.columns]
            fields.insert(t.columns.index("Description") + 1, "原因见附件")
            writer.writerow(fields)
            rejects.append({"line": line, "legacy_id": "60999",
                            "reason": f"ragged: {len(fields)} fields where the header has {len(t.columns)}"})
        writer.writerow([row[c] for c in t.columns])
    return buf.getvalue().encode("gbk"), rejects


# --------------------------------------------------------------------------------------------
# Activities: samples/call_centre/activities.jsonl and samples/call_centre/callcentre.sqlite

ACT_COLS = {"ActivityId": "id", "Type": "type", "Subject": "subject", "RelatedTo": "related_entity",
            "RelatedId": "related_id", "DueDate": "due_at", "CompletedDate": "completed_at",
            "Status": "status", "Owner": "owner"}
ACT_TYPES = {"Call": "call", "Email": "email", "E-mail": "email", "Meeting": "meeting", "Visit": "visit", "Task": "task"}
RELATED = {"Account": "account", "Contact": "contact", "Opportunity": "opportunity", "Case": "case", "Lead": "lead"}
ACT_SUBJECTS = {"Call": ["Follow-up call", "Intro call", "Перезвонить клиенту"], "Email": ["Sent proposal", "Отправлено КП"],
                "E-mail": ["Sent price list"], "Meeting": ["Kick-off meeting", "Встреча с директором"],
                "Visit": ["Site visit", "Визит в офис"], "Task": ["Prepare contract", "Update CRM data"]}
CALL_COLS = {"call_id": "id", "agent": "owner", "direction": None, "subject": "subject", "related_type": "related_entity",
             "related_id": "related_id", "phone_number": None, "duration_sec": None, "cost": None,
             "started_at": "due_at", "ended_at": "completed_at", "outcome": "status"}


def build_activities(truth: Truth, rng: random.Random, tables: dict[str, Table]) -> Table:
    t = Table(truth, "call_centre/activities.jsonl", "activity", ACT_COLS, "ActivityId", rng)
    for i in range(400):
        typ = rng.choice(list(ACT_TYPES))
        related = rng.choice(list(RELATED))
        target = tables[RELATED[related]]
        due = rand_dt(rng, date(2022, 6, 1), date(2024, 3, 31))
        done = due <= AS_OF and rng.random() < 0.85
        t.rows.append({"ActivityId": f"ACT-{70001 + i}", "Type": typ, "Subject": rng.choice(ACT_SUBJECTS[typ]),
                       "RelatedTo": related, "RelatedId": str(target.legacy_id(rng.choice(target.rows))),
                       "DueDate": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "CompletedDate": (due + timedelta(minutes=rng.randrange(0, 240))).strftime("%Y-%m-%dT%H:%M:%SZ") if done else None,
                       "Status": "Completed" if done else rng.choice(["Open", "Not Started"]), "Owner": rng.choice(AGENTS + CRM_OWNERS)})
    # Under: related pointer orphans 2/400 = 0.5%, type missing 2/400.
    for row, value in zip(t.pick("RelatedId", 2, where=lambda r: r["RelatedTo"] == "Contact"), ["C-28888", "C-28889"], strict=True):
        t.orphan(row, "RelatedId", value)
    t.plant_missing("Type", 2)
    return t


def build_calls(truth: Truth, rng: random.Random, accounts: Table, cases: Table) -> Table:
    t = Table(truth, "call_centre/callcentre.sqlite", "activity", CALL_COLS, "call_id", rng)
    for i in range(300):
        rel = rng.choice(["case", "case", "account"])
        target = cases if rel == "case" else accounts
        start = rand_dt(rng, date(2023, 1, 1), date(2024, 2, 28))
        duration = rng.randrange(0, 1800)
        answered = duration > 15
        t.rows.append({"call_id": i + 1, "agent": rng.choice(AGENTS), "direction": rng.choice(["in", "out"]),
                       "subject": rng.choice(["Support call", "Callback", "Complaint", "Order status", "回访"]),
                       "related_type": rel, "related_id": int(target.legacy_id(rng.choice(target.rows))),
                       "phone_number": make_phone(rng, rng.choice(["RU", "CN", "DE"])).e164,
                       "duration_sec": duration, "cost": round(duration / 60 * 0.035, 4),
                       "started_at": start.strftime("%Y-%m-%d %H:%M:%S"),
                       "ended_at": (start + timedelta(seconds=duration)).strftime("%Y-%m-%d %H:%M:%S"),
                       "outcome": "completed" if answered else rng.choice(["missed", "no answer"])})
    # Under: related pointer orphans 1/300 = 0.3%.
    for row in t.pick("related_id", 1, where=lambda r: r["related_type"] == "case"):
        t.orphan(row, "related_id", 69999)
    return t


# --------------------------------------------------------------------------------------------
# Writers.


def write_csv(path: Path, t: Table, delimiter: str, encoding: str, bom: bytes = b"") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(t.columns)
    for row in t.clean_rows():
        writer.writerow(["" if v is None else v for v in row.values()])
    path.write_bytes(bom + buf.getvalue().encode(encoding))


def write_xlsx(path: Path, t: Table) -> int:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contacts"
    ws.append(["Contacts - exported by J. Smith"])
    ws.append(["As of 01.03.2024"])
    ws.append([])
    ws.append(t.columns)
    header_row = 4
    first, last = (get_column_letter(t.columns.index(c) + 1) for c in ("First Name", "Last Name"))
    for i, row in enumerate(t.clean_rows()):
        r = header_row + 1 + i
        row["Full Name"] = f'={first}{r}&" "&{last}{r}'
        ws.append(list(row.values()))
        date_cell = ws.cell(r, t.columns.index("Date Added") + 1)
        if isinstance(date_cell.value, date):
            date_cell.number_format = "DD.MM.YYYY"
    notes = wb.create_sheet("Notes")
    for line in ["Contacts I met at trade shows 2019-2024.", "Müller (Bergmann) prefers calls after 14:00.",
                 "Ask Łukasz about the Q2 order; Ødegaard moved to another company?", "王伟 – 只说中文 (speaks Chinese only)."]:
        notes.append([line])
    # Fixed document times, so two runs differ only in the zip container's own timestamps.
    wb.properties.created = wb.properties.modified = AS_OF
    wb.save(path)
    return header_row


def write_sqlite(path: Path, t: Table) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("""CREATE TABLE calls (
        call_id INTEGER PRIMARY KEY, agent TEXT NOT NULL, direction TEXT, subject TEXT,
        related_type TEXT, related_id INTEGER, phone_number TEXT, duration_sec INTEGER,
        cost REAL, started_at TEXT, ended_at TEXT, outcome TEXT)""")
    con.executemany(f"INSERT INTO calls VALUES ({', '.join('?' * len(t.columns))})",
                    [tuple(r.values()) for r in t.clean_rows()])
    con.commit()
    con.close()


# --------------------------------------------------------------------------------------------
# Counts and threshold check.


def summarise(truth: Truth) -> tuple[list, list]:
    rows_by_entity: dict[str, int] = {}
    rows_by_file = {path: f["data_rows"] for path, f in truth.files.items()}
    for f in truth.files.values():
        rows_by_entity[f["entity"]] = rows_by_entity.get(f["entity"], 0) + f["data_rows"]
    errors = [{**e, "kind": e.get("kind", "orphan")} for e in truth.invalid + truth.orphans]
    counts: dict[tuple, dict] = {}
    for e in errors:
        c = counts.setdefault((e["entity"], e["field"], e["kind"]), {"count": 0, "by_file": {}})
        c["count"] += 1
        c["by_file"][e["file"]] = c["by_file"].get(e["file"], 0) + 1
    count_list = [{"entity": ent, "field": fld, "kind": kind, "count": c["count"], "rows": rows_by_entity[ent],
                   "by_file": {p: {"count": n, "rows": rows_by_file[p]} for p, n in sorted(c["by_file"].items())}}
                  for (ent, fld, kind), c in sorted(counts.items())]

    rates = []
    per_field: dict[tuple, dict] = {}
    for e in errors:
        per_field.setdefault((e["entity"], e["field"]), {}).setdefault(e["file"], 0)
        per_field[(e["entity"], e["field"])][e["file"]] += 1
    for (ent, fld), by_file in sorted(per_field.items()):
        cls = threshold_class(ent, fld)
        limit = THRESHOLDS[cls]
        total = sum(by_file.values())
        rate = total / rows_by_entity[ent]
        over = rate > limit
        # Each file on its own must fall on the same side, clearly: a gate may run per source.
        files = [p for p, f in truth.files.items() if f["entity"] == ent]
        for p in files:
            r = by_file.get(p, 0) / rows_by_file[p]
            if not (r >= HIGH * limit if over else r <= LOW * limit):
                raise AssertionError(f"{ent}.{fld} in {p}: rate {r:.3%} is too close to {limit:.0%}")
        rates.append({"entity": ent, "field": fld, "errors": total, "rows": rows_by_entity[ent],
                      "rate": round(rate, 4), "threshold_class": cls, "threshold": limit, "over": over})
    return count_list, rates


# --------------------------------------------------------------------------------------------


def generate(out: Path) -> None:
    rng = random.Random(SEED)
    truth = Truth()
    for sub in ("legacy_crm", "sales_reps", "call_centre"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    accounts, acc_meta = build_accounts(truth, rng)
    contacts_a, contacts_b, people = build_contacts(truth, rng, accounts)
    leads = build_leads(truth, rng, people, contacts_a, contacts_b)
    opps = build_opportunities(truth, rng, accounts)
    ocr = build_ocr(truth, rng, opps, contacts_b)
    cases, case_meta = build_cases(truth, rng, accounts, contacts_b)
    tables = {"account": accounts, "contact": contacts_b, "opportunity": opps, "case": cases, "lead": leads}
    activities = build_activities(truth, rng, tables)
    calls = build_calls(truth, rng, accounts, cases)

    write_csv(out / accounts.path, accounts, ";", "cp1251")
    accounts.record(fmt="csv", encoding="cp1251", delimiter=";", header_row=1, **acc_meta)

    write_csv(out / contacts_b.path, contacts_b, ",", "utf-8", bom=codecs.BOM_UTF8)
    contacts_b.record(fmt="csv", encoding="utf-8-sig", delimiter=",", header_row=1,
                      date_formats={"Created Date": "%Y-%m-%d %H:%M:%S", "Last Contacted": "ambiguous: %d/%m/%Y or %m/%d/%Y"},
                      ambiguous_date_columns=["Last Contacted"],
                      value_maps={"Mailing Country": {f: iso for iso, forms in COUNTRY_EN.items() for f in forms}})

    header_row = write_xlsx(out / contacts_a.path, contacts_a)
    contacts_a.record(fmt="xlsx", encoding=None, header_row=header_row, sheet="Contacts",
                      sheets=["Contacts", "Notes"], formula_columns=["Full Name"],
                      date_formats={"Date Added": ["excel_date", "%d.%m.%Y", "%Y-%m-%d", "%d %b %Y"]},
                      value_maps={"Country": {f: iso for iso, forms in COUNTRY_EN.items() for f in forms}})

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\r\n")
    writer.writerow(leads.columns)
    writer.writerows(list(r.values()) for r in leads.clean_rows())
    (out / leads.path).write_bytes(codecs.BOM_UTF16_LE + buf.getvalue().encode("utf-16-le"))
    leads.record(fmt="csv", encoding="utf-16", delimiter="\t", header_row=1, byte_order="little-endian",
                 date_formats={"Created": "%m/%d/%Y"})

    docs = [nest(r, opps.columns) for r in opps.clean_rows()]
    (out / opps.path).write_text(json.dumps(docs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    opps.record(fmt="json", encoding="utf-8", nested=True,
                date_formats={"CloseDate": "%Y-%m-%d", "CreatedDate": "%Y-%m-%dT%H:%M:%S"})

    write_csv(out / ocr.path, ocr, "|", "cp1252")
    ocr.record(fmt="csv", encoding="cp1252", delimiter="|", header_row=1, value_maps={"Primary": BOOL_FORMS})

    data, rejects = render_cases(cases, rng)
    (out / cases.path).write_bytes(data)
    cases.record(fmt="csv", encoding="gbk", delimiter=",", header_row=1, rejects=rejects, **case_meta)

    lines = [json.dumps({c: r[c] for c in activities.columns}, ensure_ascii=False) for r in activities.rows]
    bad_at = rng.randrange(100, 300)
    # A line cut off mid-string, as when an export is killed while writing.
    lines.insert(bad_at, '{"ActivityId": "ACT-79999", "Type": "Call", "Subject": "Follow-up call", "RelatedTo": "Acc')
    (out / activities.path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    activities.record(fmt="jsonl", encoding="utf-8", rejects=[{"line": bad_at + 1, "legacy_id": "ACT-79999",
                                                               "reason": "malformed JSON: line ends inside a string"}],
                      value_maps={"Type": ACT_TYPES, "RelatedTo": RELATED},
                      date_formats={"DueDate": "%Y-%m-%dT%H:%M:%SZ", "CompletedDate": "%Y-%m-%dT%H:%M:%SZ"})

    write_sqlite(out / calls.path, calls)
    calls.record(fmt="sqlite", encoding=None, table="calls", defaults={"type": "call"},
                 value_maps={"related_type": {"case": "case", "account": "account"}},
                 date_formats={"started_at": "%Y-%m-%d %H:%M:%S", "ended_at": "%Y-%m-%d %H:%M:%S"})

    counts, rates = summarise(truth)
    doc = {
        "generator": {"script": "samples/generate.py", "seed": SEED, "as_of": AS_OF.isoformat()},
        "thresholds": THRESHOLDS,
        "files": truth.files,
        "duplicates": truth.duplicates,
        "lead_contact_matches": truth.lead_contact_matches,
        "hard_negatives": truth.hard_negatives,
        "orphans": truth.orphans,
        "invalid": truth.invalid,
        "formatting": truth.formatting,
        "counts": counts,
        "error_rates": rates,
        "over_threshold": [f"{r['entity']}.{r['field']}" for r in rates if r["over"]],
    }
    (out / "truth.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: this folder)")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
