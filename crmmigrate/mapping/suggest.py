"""Suggest: draft a mapping file for one source and one canonical entity.

    draft = suggest_mapping(Source(location="contacts.csv"), "contact")
    draft.guess("email")        # column, confidence, and the reasons for the guess
    draft.custom                # every column no field took: kept, so nothing is lost
    draft.to_yaml()             # a commented mapping file, loadable and runnable as it is

A guess comes from the header first: names are normalised (case, accents, punctuation,
camelCase, spacing) and looked up in an alias table in several languages, then compared with
rapidfuzz for near-misses. The values then confirm or contradict it, using the profiler's value
shapes: a column of e-mails is e-mail-ish, a date column gives its format. Values also find a
field for a column whose header says nothing. The draft is a start for an engineer to edit,
never a silent decision: every field says how sure it is and why.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError
from rapidfuzz import process
from rapidfuzz.distance import OSA

from crmmigrate.dates import TIME_SUFFIX, month_name_format
from crmmigrate.errors import BadUsage
from crmmigrate.extract import ExtractReport, Source, open_source
from crmmigrate.mapping.config import SourceOptions
from crmmigrate.model import ANY_ENTITY, MODEL, PROVENANCE, Entity, Field, FieldType
from crmmigrate.profile import (
    EMAIL,
    INTEGER,
    NUMBER_SHAPES,
    PHONE,
    TEXT,
    URL,
    ColumnProfile,
    Profiler,
    shape_of,
)
from crmmigrate.validate.rules import ValidationRules, load_rules

# --- The alias table ---------------------------------------------------------------------
# Header names seen in CRM exports, keyed by canonical field name and shared by every entity
# that has a field of that name. Address parts are keyed by the part (street, city, ...) and
# apply to billing_city, mailing_city and so on. Entries are written as people write headers;
# they are normalised (case, accents, punctuation, spaces) before they are compared.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "id", "record id", "legacy id", "external id", "uid", "guid", "uuid", "identifier",
        "kennung", "identifiant", "identificador", "идентификатор", "ид", "编号", "id号",
    ),
    "first_name": (
        "first name", "given name", "forename", "christian name", "vorname", "prénom",
        "nombre", "nome", "imię", "voornaam", "имя", "名", "名字",
    ),
    "last_name": (
        "last name", "surname", "family name", "nachname", "familienname", "nom",
        "nom de famille", "apellido", "apellidos", "cognome", "nazwisko", "achternaam",
        "фамилия", "姓", "姓氏",
    ),
    "email": (
        "email", "e-mail", "email address", "e-mail address", "mail", "mail address",
        "work email", "business email", "primary email", "e-mail-adresse", "emailadresse",
        "courriel", "adresse email", "adresse e-mail", "adresse électronique", "correo",
        "correo electrónico", "почта", "эл. почта", "электронная почта", "e-mail адрес",
        "емейл", "имейл", "邮箱", "电子邮件", "电子邮箱", "邮件地址", "電子郵件",
    ),
    "phone": (
        "phone", "phone number", "telephone", "telephone number", "tel", "tel.", "tel no",
        "business phone", "work phone", "office phone", "main phone", "landline", "telefon",
        "telefonnummer", "téléphone", "numéro de téléphone", "teléfono", "telefono",
        "телефон", "тел.", "номер телефона", "рабочий телефон", "电话", "电话号码",
        "联系电话", "座机",
    ),
    "mobile": (
        "mobile", "mobile phone", "mobile number", "cell", "cell phone", "cellphone", "handy",
        "mobil", "mobiltelefon", "mobilnummer", "portable", "téléphone portable", "móvil",
        "celular", "мобильный", "мобильный телефон", "моб. тел.", "сотовый", "手机",
        "手机号", "手机号码", "移动电话",
    ),
    "title": (
        "title", "job title", "position", "job position", "job", "designation", "funktion",
        "titel", "berufsbezeichnung", "stellung", "poste", "fonction", "titre", "cargo",
        "puesto", "должность", "позиция", "职位", "职务", "头衔",
    ),
    "department": (
        "department", "dept", "division", "abteilung", "département", "service",
        "departamento", "отдел", "подразделение", "департамент", "部门",
    ),
    "owner": (
        "owner", "owner name", "record owner", "sales rep", "sales representative", "rep",
        "salesperson", "account manager", "agent", "assigned to", "responsible",
        "verantwortlich", "zuständig", "betreuer", "vertriebsmitarbeiter", "propriétaire",
        "responsable", "commercial", "propietario", "vendedor", "ответственный", "менеджер",
        "владелец", "负责人", "所有人", "销售代表", "客户经理", "跟进人",
    ),
    "created_at": (
        "created", "created date", "created on", "created at", "creation date", "create date",
        "date created", "created time", "create time", "date added", "added on", "entry date",
        "erstellt", "erstellt am", "angelegt", "angelegt am", "erstelldatum", "erfasst am",
        "date de création", "créé le", "fecha de creación", "creado", "дата создания",
        "создан", "создано", "дата добавления", "创建时间", "创建日期", "添加日期", "录入时间",
    ),
    "parent_id": (
        "parent", "parent id", "parent account", "parent account id", "parent company",
        "parent company id", "parent organisation", "muttergesellschaft", "mutterunternehmen",
        "übergeordnet", "société mère", "empresa matriz", "головная компания",
        "материнская компания", "родительская компания", "上级公司", "母公司", "上级客户",
    ),
    "industry": (
        "industry", "sector", "vertical", "branche", "industrie", "secteur", "industria",
        "отрасль", "индустрия", "сфера деятельности", "行业", "所属行业",
    ),
    "website": (
        "website", "web site", "web", "url", "homepage", "home page", "www", "site", "site web",
        "sitio web", "página web", "webseite", "internetseite", "internet", "сайт", "веб-сайт",
        "网站", "网址", "主页",
    ),
    "street": (
        "street", "street address", "address", "address line 1", "address 1", "straße",
        "strasse", "str.", "anschrift", "adresse", "rue", "calle", "dirección", "улица",
        "адрес", "街道", "地址", "详细地址",
    ),
    "city": ("city", "town", "ort", "stadt", "ville", "ciudad", "localidad", "город", "城市", "市"),
    "postal_code": (
        "zip", "zip code", "postal code", "postcode", "post code", "plz", "postleitzahl",
        "code postal", "código postal", "индекс", "почтовый индекс", "邮编", "邮政编码",
    ),
    "state": (
        "state", "region", "province", "county", "bundesland", "région", "provincia", "estado",
        "область", "регион", "край", "штат", "省", "省份", "州", "地区",
    ),
    "country": (
        "country", "country code", "country name", "nation", "land", "staat", "pays", "país",
        "страна", "国家", "国别",
    ),
    "company": (
        "company", "company name", "organisation", "organization", "account name", "firma",
        "firmenname", "unternehmen", "société", "entreprise", "raison sociale", "empresa",
        "компания", "организация", "название компании", "公司", "公司名称", "单位",
    ),
    "name": ("name", "bezeichnung", "название", "наименование", "名称"),
    "source": (
        "source", "lead source", "channel", "quelle", "herkunft", "origine", "fuente",
        "origen", "источник", "канал", "来源", "线索来源", "渠道",
    ),
    "status": (
        "status", "statut", "estado", "zustand", "статус", "состояние", "状态",
    ),
    "stage": (
        "stage", "sales stage", "deal stage", "pipeline stage", "phase", "verkaufsphase",
        "stufe", "étape", "etapa", "fase", "этап", "стадия", "阶段", "销售阶段",
    ),
    "amount": (
        "amount", "deal value", "revenue", "betrag", "umsatz", "montant", "importe", "monto",
        "сумма", "стоимость", "бюджет", "金额", "总金额", "预计金额",
    ),
    "currency": (
        "currency", "currency code", "currency iso code", "ccy", "währung", "devise",
        "monnaie", "moneda", "divisa", "валюта", "币种", "货币",
    ),
    "close_date": (
        "close date", "closing date", "expected close", "expected close date", "date closed",
        "abschlussdatum", "date de clôture", "fecha de cierre", "дата закрытия",
        "预计成交日期", "成交日期",
    ),
    "probability": (
        "probability", "probability %", "win probability", "likelihood", "wahrscheinlichkeit",
        "probabilité", "probabilidad", "вероятность", "概率", "赢单率", "成功率",
    ),
    "role": ("role", "contact role", "rolle", "rôle", "rol", "роль", "角色"),
    "is_primary": (
        "primary", "is primary", "primary contact", "main contact", "hauptkontakt",
        "contact principal", "principal", "основной", "главный", "主要联系人", "首要",
    ),
    "subject": (
        "subject", "topic", "summary", "betreff", "thema", "objet", "sujet", "asunto", "tema",
        "тема", "заголовок", "主题", "标题", "事由",
    ),
    "priority": (
        "priority", "prio", "severity", "urgency", "priorität", "priorité", "prioridad",
        "приоритет", "важность", "优先级", "紧急程度",
    ),
    "origin": (
        "origin", "case origin", "channel", "herkunft", "kanal", "eingangskanal", "origine",
        "canal", "origen", "источник", "канал", "来源", "渠道",
    ),
    "opened_at": (
        "opened", "opened date", "date opened", "open date", "opened at", "opened on",
        "reported", "eröffnet", "geöffnet", "date d'ouverture", "ouvert le",
        "fecha de apertura", "дата открытия", "дата обращения", "开启时间", "受理时间",
    ),
    "closed_at": (
        "closed", "closed date", "date closed", "closed at", "closed on", "resolved",
        "resolved date", "geschlossen", "erledigt am", "date de fermeture", "fermé le",
        "fecha de cierre", "дата закрытия", "закрыто", "关闭时间", "结案时间", "解决时间",
    ),
    "description": (
        "description", "details", "detail", "problem", "beschreibung", "descripción",
        "описание", "подробности", "描述", "详情", "问题描述",
    ),
    "type": (
        "type", "activity type", "task type", "kind", "typ", "art", "aktivitätstyp",
        "type d'activité", "tipo", "тип", "вид", "类型", "活动类型",
    ),
    "related_entity": (
        "related to", "related type", "related object", "related entity", "regarding",
        "regarding type", "what type", "object type", "bezug", "bezogen auf", "lié à",
        "relacionado con", "связано с", "тип объекта", "关联类型", "关联对象",
    ),
    "related_id": (
        "related id", "related to id", "related record", "related record id", "regarding id",
        "what id", "object id", "bezugs id", "id объекта", "关联id", "关联编号",
    ),
    "due_at": (
        "due", "due date", "due at", "due on", "activity date", "scheduled", "scheduled date",
        "start date", "start time", "started at", "planned", "fällig", "fälligkeitsdatum",
        "termin", "échéance", "date d'échéance", "fecha de vencimiento", "vencimiento",
        "срок", "планируемая дата", "截止日期", "到期日", "计划时间", "开始时间",
    ),
    "completed_at": (
        "completed", "completed date", "completed at", "completion date", "done date",
        "finished", "finished at", "end time", "ended at", "end date", "erledigt",
        "abgeschlossen am", "terminé le", "fecha de finalización", "completado",
        "выполнено", "дата выполнения", "завершено", "完成时间", "结束时间",
    ),
}

# Short or general words that often, but not always, mean the field: a lower confidence.
WEAK_ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "no", "nr", "number", "num", "key", "code", "nummer", "numéro", "número", "номер",
        "код", "序号", "编码",
    ),
    "first_name": ("first", "given"),
    "last_name": ("last", "family"),
    "owner": ("user", "manager", "rep", "employee", "mitarbeiter", "сотрудник", "员工"),
    "created_at": ("added", "date", "дата", "日期"),
    "description": ("notes", "note", "comment", "comments", "text", "body", "notiz", "примечание", "备注"),
    "title": ("role",),
    "amount": ("value", "total", "sum", "wert", "valor", "valeur"),
    "opened_at": ("created", "created date", "date", "дата", "创建时间"),
    "closed_at": ("end", "ended"),
    "close_date": ("close", "closed"),
    "due_at": ("date", "start", "started", "дата", "日期"),
    "completed_at": ("end", "ended", "done"),
    "status": ("state", "outcome", "result"),
    "is_primary": ("main", "haupt"),
    "source": ("campaign", "origin"),
}

# Aliases that hold for one entity only ("Company" is an account's name, not a deal's).
ENTITY_ALIASES: dict[str, tuple[str, ...]] = {
    "account.name": (
        "account", "company", "company name", "organisation", "organization",
        "organisation name", "organization name", "customer", "customer name", "client",
        "client name", "business", "business name", "legal name", "trading name", "site name",
        "store name", "location name", "firma", "firmenname", "unternehmen", "kunde", "société", "entreprise",
        "raison sociale", "nom de l'entreprise", "empresa", "razón social", "cliente",
        "компания", "название компании", "организация", "контрагент", "клиент",
        "公司", "公司名称", "客户名称", "企业名称", "单位名称",
    ),
    "opportunity.name": (
        "deal", "deal name", "opportunity", "sales opportunity", "verkaufschance",
        "opportunité", "affaire", "oportunidad", "сделка", "название сделки", "商机名称", "商机",
    ),
    "activity.status": (
        "outcome", "result", "disposition", "ergebnis", "résultat", "resultado", "результат",
        "结果",
    ),
    "activity.owner": ("assigned", "assignee", "исполнитель", "执行人"),
}

# How each entity is named in headers: "Contact ID" is a contact's own id, "Account ID" in a
# contact source is the pointer to its account, "Lead Source" is a lead's source.
ENTITY_WORDS: dict[str, tuple[str, ...]] = {
    "account": (
        "account", "acct", "acc", "company", "organisation", "organization", "org", "customer",
        "client", "firma", "firmen", "unternehmen", "kunde", "kunden", "compte", "société",
        "entreprise", "cliente", "empresa", "cuenta", "компания", "организация", "клиент",
        "контрагент", "公司", "客户", "企业", "账户",
    ),
    "contact": (
        "contact", "kontakt", "ansprechpartner", "person", "contacto", "контакт",
        "контактное лицо", "联系人",
    ),
    "lead": (
        "lead", "prospect", "interessent", "prospecto", "лид", "потенциальный клиент", "线索",
        "潜在客户",
    ),
    "opportunity": (
        "opportunity", "opp", "oppty", "deal", "verkaufschance", "chance", "opportunité",
        "affaire", "oportunidad", "сделка", "возможность", "商机", "机会", "销售机会",
    ),
    "opportunity_contact_role": (
        "role", "contact role", "opportunity contact role", "rolle", "роль", "角色",
    ),
    "case": (
        "case", "ticket", "incident", "request", "vorgang", "anfrage", "fall", "cas",
        "dossier", "caso", "обращение", "заявка", "тикет", "инцидент", "工单", "案例", "个案",
    ),
    "activity": (
        "activity", "task", "event", "call", "aktivität", "aufgabe", "activité", "tâche",
        "actividad", "tarea", "активность", "задача", "звонок", "活动", "任务",
    ),
}

# Words that make "<entity> <word>" an identifier: "Contact No", "Kundennummer", "客户编号".
ID_WORDS = (
    "id", "no", "nr", "number", "num", "key", "code", "ref", "nummer", "numéro", "número",
    "номер", "код", "ид", "编号", "号", "代码",
)

# Words exports put before a pointer's entity: HubSpot's "Associated Company ID".
POINTER_QUALIFIERS = ("associated", "related", "linked")

# Words that put an address field in its block: "Mailing City", "Billing Zip".
ADDRESS_PREFIXES: dict[str, tuple[str, ...]] = {
    "billing": (
        "billing", "bill to", "billing address", "invoice", "rechnung", "rechnungs",
        "facturation", "facturación", "address", "adresse", "адрес", "地址",
    ),
    "mailing": (
        "mailing", "mailing address", "mail", "postal", "post", "home", "address", "adresse",
        "почтовый", "адрес", "地址", "邮寄",
    ),
}
ADDRESS_PARTS = ("street", "city", "postal_code", "state", "country")

# A whole name in one column: a fallback for first and last name, split by the engine.
FULL_NAME_ALIASES = (
    "full name", "name", "contact name", "person", "display name", "vollständiger name",
    "nom complet", "nombre completo", "фио", "полное имя", "姓名",
)

# What exports call a record's own name: a deal's "Title", a ticket's "Name", an account's
# "Title". Each is a weak alias of an entity's name or subject field, unless the entity has a
# field of that name (a contact's title is a job title).
RECORD_NAME_WORDS = ("name", "title", "subject", "topic", "summary", "headline", "label")
RECORD_NAME_FIELDS = ("name", "subject")

# "Owner Name", "Amount.Value": a field named with a word for its text or value after it.
ATTRIBUTE_SUFFIXES = ("name", "value", "text", "label", "display name")

# Words that say a column is about something else (another person, an old value): values
# alone never put such a column into a field.
OTHER_CONCEPT_WORDS = frozenset(
    {
        "fax", "owner", "manager", "assistant", "secondary", "other", "alt", "alternate", "old",
        "previous", "former", "spouse", "parent", "rep", "agent", "user", "created", "modified",
        "updated", "last",
    }
)

# Headers that name nothing: "column_7" (extract names blank headers so), "Field 3".
UNHELPFUL_WORDS = frozenset(
    {
        "column", "col", "field", "feld", "spalte", "unnamed", "data", "value", "values", "misc",
        "x", "y", "z",
    }
)

# Picklist values in several languages, for fields with a fixed list of choices.
CHOICE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "call": ("phone call", "phone", "anruf", "telefonat", "appel", "llamada", "звонок", "电话", "通话"),
    "email": ("e-mail", "mail", "courriel", "correo", "письмо", "почта", "邮件", "电子邮件"),
    "meeting": ("termin", "besprechung", "réunion", "reunión", "встреча", "会议", "会面"),
    "visit": ("besuch", "visite", "visita", "визит", "拜访", "访问"),
    "task": ("to do", "todo", "aufgabe", "tâche", "tarea", "задача", "任务"),
}

# Words a boolean column is written with; the engine's `boolean` reads these and more.
BOOLEAN_WORDS = frozenset(
    {
        "true", "false", "yes", "no", "y", "n", "t", "f", "1", "0", "ja", "nein", "j", "wahr",
        "falsch", "oui", "non", "vrai", "faux", "si", "sí", "verdadero", "falso", "да", "нет", "д",
        "н", "是", "否", "x", "on", "off",
    }
)

# --- Confidence --------------------------------------------------------------------------
EXACT = 0.95
WEAK = 0.8
COMPOSED = 0.9
# A guess below this is not mapped; its column goes to custom, with the guess as a comment.
ACCEPT = 0.5
# Header near-misses: at least this similar (OSA: a transposition is one edit) and this long.
FUZZY_SIMILARITY = 0.8
FUZZY_MIN_LENGTH = 5
# A value kind (e-mail, date, ...) counts as confirmed or contradicted at these shares.
CONFIRM_SHARE = 0.7
CONTRADICT_SHARE = 0.2
SNIFF_SHARE = 0.8
CHOICE_MAP_MAX_VALUES = 100


# --- Normalising headers -----------------------------------------------------------------
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(header: str) -> str:
    """A header as words: "AccountID" -> "account id", "E-Mail" -> "e mail", "Acct #" ->
    "acct no", "Prénom" -> "prenom", "№" -> "no"."""
    text = unicodedata.normalize("NFKD", str(header))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _CAMEL.sub(" ", text)
    text = text.replace("#", " no ")  # "Acct #" is an account number
    return _NOT_WORD.sub(" ", text.casefold()).strip()


def compact(header: str) -> str:
    """The normalised header without spaces, so "E-Mail", "e mail" and "email" are one key."""
    return normalise(header).replace(" ", "")


# --- Results -----------------------------------------------------------------------------
@dataclass
class Guess:
    """One canonical field, the column it is drafted from, and why."""

    field: str
    column: str
    confidence: float
    reasons: list[str]
    transforms: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Picklist values the rules do not allow and no choice matched, with their row counts:
    # the draft maps each to itself, for the engineer to replace with an allowed value.
    unplaced: dict[str, int] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()

    def spec(self) -> dict[str, Any]:
        """The field's entry in the mapping: {from, transforms}."""
        if not self.transforms:
            return {"from": self.column}
        return {"from": self.column, "transforms": self.transforms}

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "column": self.column,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "transforms": self.transforms,
            "notes": list(self.notes),
            "unplaced": dict(self.unplaced),
        }


@dataclass
class Draft:
    """A drafted mapping: the guesses, the columns kept as custom, and what was not found."""

    entity: str
    location: str | None
    guesses: list[Guess]
    custom: list[str]
    custom_notes: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    # The allowed values of each missing picklist field, for a constant the rules accept.
    missing_choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source_options: dict[str, Any] = field(default_factory=dict)
    read_as: str | None = None
    rows: int = 0
    notes: list[str] = field(default_factory=list)

    def guess(self, name: str) -> Guess | None:
        return next((g for g in self.guesses if g.field == name), None)

    @property
    def fields(self) -> dict[str, str]:
        """field -> column, for every field the draft maps."""
        return {g.field: g.column for g in self.guesses}

    def mapping_data(self) -> dict[str, Any]:
        """The mapping as plain data, the same the YAML text holds."""
        data: dict[str, Any] = {"entity": self.entity}
        if self.source_options:
            data["source"] = dict(self.source_options)
        data["fields"] = {g.field: g.spec() for g in self.guesses}
        data["custom"] = list(self.custom)
        data["drop"] = []
        return data

    def to_yaml(self) -> str:
        """The mapping file: readable, every guess with its confidence and reasons."""
        return _render(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "location": self.location,
            "rows": self.rows,
            "guesses": [g.as_dict() for g in self.guesses],
            "custom": list(self.custom),
            "custom_notes": dict(self.custom_notes),
            "missing": list(self.missing),
            "missing_choices": {k: list(v) for k, v in self.missing_choices.items()},
            "source_options": dict(self.source_options),
            "notes": list(self.notes),
        }


# --- Entry points ------------------------------------------------------------------------
def check_entity(name: str) -> Entity:
    """The canonical entity of that name, or a usage error that suggests the closest one."""
    if name in MODEL.names:
        return MODEL.entity(name)
    raise BadUsage(MODEL.unknown(name) + ".")


def suggest_mapping(source: Source, entity: str, rules: ValidationRules | None = None) -> Draft:
    """Read a source chunk by chunk and draft a mapping of its columns to `entity`; picklist
    values are checked against `rules` (default: the validation rules validate reads)."""
    check_entity(entity)
    profiler = Profiler(top=0)
    extraction = open_source(source)
    for chunk in extraction.chunks():
        profiler.add(chunk)
    return suggest_profiled(profiler, extraction.report, source, entity, rules)


def suggest_profiled(profiler: Profiler, report: ExtractReport, source: Source, entity: str,
                     rules: ValidationRules | None = None) -> Draft:
    """Draft a mapping of a source already read into `profiler` (as `report` says it was read),
    so that one reading serves the drafts for several entities."""
    check_entity(entity)
    draft = _draft(profiler, report.columns, entity, location=report.file, rules=rules)
    draft.source_options = _source_options(source, report, draft.notes)
    draft.read_as = report.describe()
    return draft


def suggest_frame(
    frame: pd.DataFrame, entity: str, *, location: str | None = None,
    rules: ValidationRules | None = None,
) -> Draft:
    """Draft a mapping for a frame of strings (as extract gives it; provenance is skipped)."""
    check_entity(entity)
    profiler = Profiler(top=0)
    profiler.add(frame)
    columns = [str(c) for c in frame.columns if c not in PROVENANCE]
    return _draft(profiler, columns, entity, location=location, rules=rules)


# --- The index of header keys ------------------------------------------------------------
@dataclass(frozen=True)
class _Hit:
    field: str
    confidence: float
    alias: str  # the alias text as written in the table, or as composed from it
    how: str = ""  # how the key was composed; empty for a plain alias
    split: str | None = None  # "first" or "last" for a whole name split by the engine


def _address_part(name: str) -> tuple[str, str] | None:
    for part in ADDRESS_PARTS:
        prefix = name.removesuffix("_" + part)
        if prefix != name and prefix in ADDRESS_PREFIXES:
            return prefix, part
    return None


def _aliases(entity: Entity, f: Field) -> tuple[list[str], list[str]]:
    """Strong and weak aliases of one field of one entity."""
    key = f.name
    address = _address_part(f.name)
    if address:
        key = address[1]
    strong = [*ALIASES.get(key, ()), *ENTITY_ALIASES.get(f"{entity.name}.{f.name}", ())]
    weak = list(WEAK_ALIASES.get(key, ()))
    if f.is_pointer and f.target not in (None, ANY_ENTITY, entity.name):
        # "Account ID" in a contact source; "Account" alone might hold names, so it is weak.
        words = ENTITY_WORDS[f.target]
        strong += [f"{w} {i}" for w in words for i in ID_WORDS]
        strong += [f"{q} {w} {i}" for q in POINTER_QUALIFIERS for w in words for i in ("id", "ids")]
        weak += list(words)
    if f.is_pointer and f.target == entity.name:
        # A pointer into its own entity is named by its role and the entity: "Parent AcctID",
        # "ParentAccountId", "Parent Company No" for parent_id.
        role = f.name.removesuffix("_id").replace("_", " ")
        words = ENTITY_WORDS[entity.name]
        strong += [f"{role} {i}" for i in ID_WORDS]
        strong += [f"{role} {w} {i}" for w in words for i in ID_WORDS]
        weak += [f"{role} {w}" for w in words]
    if f.name in RECORD_NAME_FIELDS and f.type is FieldType.STRING:
        weak += [w for w in RECORD_NAME_WORDS if w != f.name and w not in entity]
    if f.name == "id":
        strong += [f"{w} {i}" for w in ENTITY_WORDS[entity.name] for i in ID_WORDS]
    return strong, weak


@cache
def _index(entity_name: str) -> dict[str, tuple[_Hit, ...]]:
    """Every header key that names a field of the entity, with how sure it makes us."""
    entity = MODEL.entity(entity_name)
    found: dict[str, dict[tuple[str, str | None], _Hit]] = {}

    def add(text: str, hit: _Hit) -> None:
        key = compact(text)
        if not key:
            return
        slot = found.setdefault(key, {})
        old = slot.get((hit.field, hit.split))
        if old is None or old.confidence < hit.confidence:
            slot[(hit.field, hit.split)] = hit

    own_words = ENTITY_WORDS[entity.name]
    for f in entity.fields:
        strong, weak = _aliases(entity, f)
        for aliases, base in ((strong, EXACT), (weak, WEAK)):
            for alias in aliases:
                add(alias, _Hit(f.name, base, alias))
                for word in own_words:
                    composed = f"{word} {alias}"
                    how = f"{entity.name} word {word!r} + alias {alias!r}"
                    add(composed, _Hit(f.name, base - 0.05, composed, how))
                for suffix in ATTRIBUTE_SUFFIXES:
                    composed = f"{alias} {suffix}"
                    add(composed, _Hit(f.name, base - 0.1, composed, f"alias {alias!r} + {suffix!r}"))
        address = _address_part(f.name)
        if address:
            prefix, part = address
            for word in ADDRESS_PREFIXES[prefix]:
                for alias in ALIASES[part]:
                    composed = f"{word} {alias}"
                    add(composed, _Hit(f.name, EXACT, composed, f"{word!r} + alias {alias!r}"))
    if "first_name" in entity and "last_name" in entity:
        for alias in FULL_NAME_ALIASES:
            for part in ("first", "last"):
                add(alias, _Hit(f"{part}_name", 0.6, alias, "a whole name, split", part))
    return {key: tuple(hits.values()) for key, hits in found.items()}


@cache
def _all_alias_tokens() -> dict[str, frozenset[str]]:
    """Per field name, the words of its aliases: tells "Owner Email" is about the owner."""
    tokens: dict[str, set[str]] = {}
    for entity in MODEL:
        for f in entity.fields:
            strong, weak = _aliases(entity, f)
            for alias in (*strong, *weak):
                tokens.setdefault(f.name, set()).update(normalise(alias).split())
    return {name: frozenset(words) for name, words in tokens.items()}


@cache
def _blocking_words(entity_name: str) -> frozenset[str]:
    """Words naming another thing than the entity's own values: other entities, owners."""
    words = set(OTHER_CONCEPT_WORDS)
    for other, names in ENTITY_WORDS.items():
        if other != entity_name:
            for name in names:
                words.update(normalise(name).split())
    for alias in (*ALIASES["owner"], *WEAK_ALIASES["owner"]):
        words.update(normalise(alias).split())
    return frozenset(words)


# --- What the values say -----------------------------------------------------------------
_DATE_SHAPE_LABELS = frozenset(
    label for label in (
        "yyyy-mm-dd", "yyyy/mm/dd", "nn.nn.yyyy", "nn.nn.yy", "nn/nn/yyyy", "nn/nn/yy",
        "nn-nn-yyyy", "nn-nn-yy",
    )
    for label in (label, label + TIME_SUFFIX)
)
_NUMBER_SHAPES = frozenset(NUMBER_SHAPES)


@dataclass
class _Values:
    """What one column's values look like, as shares of its filled rows."""

    profile: ColumnProfile
    counts: Counter[str]
    rows: int
    email: float = 0.0
    phone: float = 0.0
    url: float = 0.0
    date: float = 0.0
    number: float = 0.0
    boolean: float = 0.0
    id_like: float = 0.0
    text_dates: Counter[str] = field(default_factory=Counter)

    @property
    def filled(self) -> int:
        return self.profile.filled

    @property
    def unique(self) -> bool:
        return self.filled > 0 and self.profile.distinct == self.filled

    @property
    def complete(self) -> bool:
        return self.filled == self.rows


def _looks_like_id(value: str) -> bool:
    return len(value) <= 64 and not any(c.isspace() for c in value) and any(c.isdigit() for c in value)


def _values(profile: ColumnProfile, counts: Counter[str], rows: int) -> _Values:
    found = _Values(profile, counts, rows)
    filled = profile.filled
    if not filled:
        return found
    shares: Counter[str] = Counter()
    for value, count in counts.items():
        text = value.strip()
        if not text:
            continue
        shape = shape_of(text)
        if shape == EMAIL:
            shares["email"] += count
        elif shape == URL:
            shares["url"] += count
        elif shape == PHONE:
            shares["phone"] += count
        elif shape in _DATE_SHAPE_LABELS:
            shares["date"] += count
        elif shape in _NUMBER_SHAPES:
            shares["number"] += count
            # Phones exported as numbers: 79161234567 is an integer with a phone's length.
            if shape == INTEGER and 7 <= sum(c.isdigit() for c in text) <= 15:
                shares["phone"] += count
        elif shape == TEXT:
            fmt = month_name_format(text)
            if fmt:
                shares["date"] += count
                found.text_dates[fmt] += count
        if text.casefold() in BOOLEAN_WORDS:
            shares["boolean"] += count
        if _looks_like_id(text):
            shares["id_like"] += count
    for kind, count in shares.items():
        setattr(found, kind, count / filled)
    return found


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"


_KIND_OF_TYPE = {
    FieldType.EMAIL: ("email", "look like e-mails"),
    FieldType.PHONE: ("phone", "look like phone numbers"),
    FieldType.URL: ("url", "look like web addresses"),
    FieldType.DATE: ("date", "look like dates"),
    FieldType.DATETIME: ("date", "look like dates"),
    FieldType.DECIMAL: ("number", "are numbers"),
    FieldType.INTEGER: ("number", "are numbers"),
    FieldType.BOOLEAN: ("boolean", "are yes/no words"),
}


def _evidence(f: Field, values: _Values) -> tuple[float, str | None]:
    """How much the values raise or lower a header's guess, and why."""
    if not values.filled:
        return 0.0, "no values to check"
    kind = _KIND_OF_TYPE.get(f.type)
    if kind is not None:
        share = getattr(values, kind[0])
        if share >= CONFIRM_SHARE:
            return 0.04, f"{_percent(share)} of values {kind[1]}"
        if share < CONTRADICT_SHARE:
            return -0.35, f"only {_percent(share)} of values {kind[1]}"
        return -0.1, f"only {_percent(share)} of values {kind[1]}"
    if f.type is FieldType.ID:
        if f.name == "id":
            if values.unique:
                return 0.04, "values unique"
            repeats = values.filled - values.profile.distinct
            return -0.25, f"{repeats:,} value(s) repeat, so it is not a unique id"
        if values.id_like < CONTRADICT_SHARE:
            return -0.4, "values look like names, not ids (a lookup can turn names into ids)"
        if values.id_like >= CONFIRM_SHARE:
            return 0.02, "values look like ids"
        return 0.0, None
    # A name, a city or a picklist is text: a column of e-mails, dates or links is not one.
    strong_kinds = max(values.email, values.date, values.url)
    if strong_kinds >= SNIFF_SHARE:
        return -0.35, "values look like e-mails, dates or links, not text"
    return 0.0, None


# --- Drafting ----------------------------------------------------------------------------
@dataclass
class _Candidate:
    column: str
    position: int
    field: str
    confidence: float
    reasons: list[str]
    split: str | None = None
    header: bool = True


def _header_hits(entity: Entity, column: str) -> list[tuple[_Hit, str]]:
    """Hits for a header, each with the reason: the exact key, then the last part of a
    dotted path, then near-misses."""
    index = _index(entity.name)
    key = compact(column)
    if key in index:
        return [
            (hit, f"header {column!r} = {hit.how}" if hit.how else f"header alias {column!r}")
            for hit in index[key]
        ]
    parts = [p for p in re.split(r"[./]", column) if p.strip()]
    if len(parts) > 1:
        # "Amount.Currency" is the amount's currency; "Owner.Email" is the owner's, not ours.
        parent = set(normalise(" ".join(parts[:-1])).split())
        if not parent & _blocking_words(entity.name):
            last = compact(parts[-1])
            if last in index:
                return [
                    (
                        _Hit(h.field, h.confidence - 0.1, h.alias, h.how, h.split),
                        f"last part of header {column!r} is alias {h.alias!r}",
                    )
                    for h in index[last]
                ]
    if len(key) >= FUZZY_MIN_LENGTH:
        matches = process.extract(
            key,
            [k for k in index if len(k) >= FUZZY_MIN_LENGTH],
            scorer=OSA.normalized_similarity,
            score_cutoff=FUZZY_SIMILARITY,
            limit=3,
        )
        hits = []
        for near, similarity, _ in matches:
            for hit in index[near]:
                confidence = hit.confidence - 0.2 - (1 - similarity)
                hits.append(
                    (
                        _Hit(hit.field, confidence, hit.alias, hit.how, hit.split),
                        (
                            f"header {column!r} is close to alias {hit.alias!r} "
                            f"({_percent(similarity)} similar)"
                        ),
                    )
                )
        return hits
    return []


def _unhelpful(column: str) -> bool:
    words = normalise(column).split()
    return all(w in UNHELPFUL_WORDS or w.isdigit() for w in words)


def _sniffed(entity: Entity, column: str, values: _Values) -> list[tuple[str, float, str]]:
    """Fields a column's values alone point at, for a header that names none."""
    if not values.filled:
        return []
    words = set(normalise(column).split())
    unhelpful = _unhelpful(column)
    tokens = _all_alias_tokens()
    found = []
    for f in entity.fields:
        kind = _KIND_OF_TYPE.get(f.type)
        if kind is None or kind[0] not in ("email", "url", "phone", "date"):
            continue
        share = getattr(values, kind[0])
        if share < SNIFF_SHARE:
            continue
        # Dates are in many fields (created, closed, last contacted), so only a header that
        # names nothing lets the values choose; e-mails, links and phones are telling enough
        # unless the header speaks of something else ("Owner Email", "Fax").
        if kind[0] == "date" and not unhelpful:
            continue
        if not unhelpful:
            elsewhere = {w for name, ws in tokens.items() if name != f.name for w in ws}
            elsewhere |= _blocking_words(entity.name)
            if words & (elsewhere - tokens.get(f.name, frozenset())):
                continue
        confidence = 0.45 + 0.3 * share
        reason = f"header {column!r} names no field, but {_percent(share)} of values {kind[1]}"
        found.append((f.name, confidence, reason))
    return found


def _draft(
    profiler: Profiler, columns: list[str], entity_name: str, *, location: str | None,
    rules: ValidationRules | None,
) -> Draft:
    entity = MODEL.entity(entity_name)
    rules = rules if rules is not None else load_rules()
    profile = profiler.profile(columns=columns)
    columns = [c.name for c in profile.columns]
    values = {
        c.name: _values(c, profiler.counts.get(c.name, Counter()), profile.rows)
        for c in profile.columns
    }
    candidates: list[_Candidate] = []
    rejected: dict[str, str] = {}
    for position, column in enumerate(columns):
        found = []
        for hit, reason in _header_hits(entity, column):
            f = entity.field(hit.field)
            adjust, why = _evidence(f, values[column])
            reasons = [reason]
            if why:
                reasons.append(why)
            confidence = min(0.99, hit.confidence + adjust)
            found.append(_Candidate(column, position, f.name, confidence, reasons, hit.split))
        if not found:
            for name, confidence, reason in _sniffed(entity, column, values[column]):
                found.append(_Candidate(column, position, name, confidence, [reason], header=False))
        for candidate in found:
            if candidate.confidence >= ACCEPT:
                candidates.append(candidate)
            else:
                best = rejected.get(column)
                text = f"not mapped to {candidate.field} ({'; '.join(candidate.reasons)})"
                if best is None:
                    rejected[column] = text
    chosen = _assign(candidates)
    notes: list[str] = []
    if "id" not in chosen:
        chosen["id"] = _fallback_id(columns, values, chosen, notes)
    guesses = []
    for f in entity.fields:
        candidate = chosen.get(f.name)
        if candidate is None:
            continue
        allowed = _allowed(entity, f, rules)
        transforms, field_notes, unplaced = _transforms(
            f, values[candidate.column], candidate.split, allowed
        )
        guesses.append(
            Guess(
                f.name,
                candidate.column,
                round(candidate.confidence, 2),
                candidate.reasons,
                transforms,
                field_notes,
                unplaced,
                allowed,
            )
        )
    used = {g.column for g in guesses}
    custom = [c for c in columns if c not in used]
    custom_notes = {}
    for column in custom:
        why = rejected.get(column) or _also_matched(column, candidates, chosen)
        described = _describe_values(values[column])
        custom_notes[column] = "; ".join(t for t in (why, described) if t)
    missing = [f.name for f in entity.fields if f.name not in chosen]
    choices = {name: _allowed(entity, entity.field(name), rules) for name in missing}
    return Draft(
        entity=entity.name,
        location=location,
        guesses=guesses,
        custom=custom,
        custom_notes=custom_notes,
        missing=missing,
        missing_choices={name: allowed for name, allowed in choices.items() if allowed},
        rows=profile.rows,
        notes=notes,
    )


def _assign(candidates: list[_Candidate]) -> dict[str, _Candidate]:
    """Best candidates first: each field gets one column and each column one field, except
    that a whole-name column may fill both first and last name."""
    chosen: dict[str, _Candidate] = {}
    plain: set[str] = set()
    split: set[str] = set()
    ranked = sorted(candidates, key=lambda c: (-c.confidence, not c.header, c.position))
    for c in ranked:
        if c.field in chosen or c.column in plain:
            continue
        if c.split is None:
            if c.column in split:
                continue
            plain.add(c.column)
        else:
            split.add(c.column)
        chosen[c.field] = c
    return chosen


def _also_matched(column: str, candidates: list[_Candidate], chosen: dict[str, _Candidate]) -> str:
    for c in candidates:
        if c.column == column and c.field in chosen:
            winner = chosen[c.field]
            return (
                f"also looked like {c.field} (confidence {c.confidence:.2f}), but "
                f"{winner.column!r} fits it better"
            )
    return ""


def _fallback_id(
    columns: list[str], values: dict[str, _Values], chosen: dict[str, _Candidate], notes: list[str]
) -> _Candidate:
    """No header names the id: a column of unique values, else the best there is, so the
    draft still runs; either way the engineer is told."""
    used = {c.column for c in chosen.values()}
    unique = [
        (i, c) for i, c in enumerate(columns) if values[c].unique and values[c].complete
    ]
    if unique:
        # A column of codes ("C-20001", "1001") before one of unique names or e-mails.
        position, column = max(
            unique, key=lambda ic: (values[ic[1]].id_like, ic[1] not in used, -ic[0])
        )
        return _Candidate(
            column,
            position,
            "id",
            0.5,
            ["no header names the id; every row has a value and no value repeats"],
        )
    if not columns:
        raise BadUsage("the source has no columns, so there is nothing to map.")
    position, column = max(
        enumerate(columns),
        key=lambda ic: (values[ic[1]].profile.distinct, values[ic[1]].id_like, -ic[0]),
    )
    distinct = values[column].profile.distinct
    notes.append(
        f"No column identifies every row: none is filled and unique. {column!r} is the closest "
        f"({distinct:,} distinct values in {values[column].rows:,} rows); combine columns "
        "(from: [A, B]) for an id that is unique."
    )
    return _Candidate(
        column, position, "id", 0.3, [f"no unique column; {column!r} has the most distinct values"]
    )


def _describe_values(values: _Values) -> str:
    """What a custom column holds, when its values have a telling kind."""
    if not values.filled:
        return "no values"
    for kind, label in (("email", "e-mails"), ("phone", "phone numbers"), ("url", "links")):
        share = getattr(values, kind)
        if share >= SNIFF_SHARE:
            return f"{_percent(share)} {label}"
    if values.date >= SNIFF_SHARE:
        formats, notes = _date_formats(values)
        text = f"{_percent(values.date)} dates"
        if formats:
            text += " (" + ", ".join(formats) + ")"
        return "; ".join([text, *notes])
    return ""


# --- Transforms --------------------------------------------------------------------------
def _allowed(entity: Entity, f: Field, rules: ValidationRules) -> tuple[str, ...]:
    """The values validate accepts for a picklist field: the rules' choices, else the model's
    (an entity name is one of the model's entities)."""
    return rules.allowed(entity.name, f.name)


def _transforms(
    f: Field, values: _Values, split: str | None, allowed: tuple[str, ...]
) -> tuple[list[Any], list[str], dict[str, int]]:
    """The transforms that fit the field's type and the column's values, notes on them, and
    the picklist values left for the engineer to map (with their row counts)."""
    if allowed:
        notes: list[str] = []
        choice_map, unplaced = _choice_map(f, values, allowed, notes)
        steps: list[Any] = ["strip"]
        if choice_map:
            steps.append({"map": {"values": choice_map}})
        return steps, notes, unplaced
    return (*_typed_transforms(f, values, split), {})


def _typed_transforms(f: Field, values: _Values, split: str | None) -> tuple[list[Any], list[str]]:
    notes: list[str] = []
    if split is not None:
        return ["strip", {"split_name": split}], [
            "the column holds whole names; check the engine splits them the way they are written"
        ]
    if f.type is FieldType.EMAIL:
        return ["strip", "lower"], notes
    if f.type in (FieldType.DATE, FieldType.DATETIME):
        formats, notes = _date_formats(values)
        name = "date" if f.type is FieldType.DATE else "datetime"
        return ["strip", {name: {"formats": formats}} if formats else name], notes
    if f.type is FieldType.DECIMAL:
        return ["strip", _number_step(values, notes)], notes
    if f.type is FieldType.INTEGER:
        return ["strip", "integer"], notes
    if f.type is FieldType.BOOLEAN:
        return ["strip", "boolean"], notes
    return ["strip"], notes


def _number_step(values: _Values, notes: list[str]) -> Any:
    marks = values.profile.decimal_marks
    if len(marks) == 1:
        (mark, _), = marks.items()
        return {"number": {"decimal": mark}}
    if len(marks) > 1:
        listed = ", ".join(f"{count:,} with {mark!r}" for mark, count in sorted(marks.items()))
        notes.append(
            f"numbers use both decimal marks ({listed}); 'auto' reads each by its look, and "
            "leaves a lone '1.234' invalid as ambiguous"
        )
    elif any(s.value.endswith("ambiguous") for s in values.profile.shapes):
        notes.append("values like '1.234' read either way; set decimal: ',' or '.' when you know")
    return "number"


_STRF = {"yyyy": "%Y", "yy": "%y", "mm": "%m", "dd": "%d"}
_STRF_RE = re.compile("yyyy|yy|mm|dd")
_DATE_HEAD = re.compile(r"[0-9]+[-./][0-9]+[-./][0-9]+")
_TIME_PART = re.compile(
    r"(?P<sep>[ T])(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2})(?P<frac>[.,][0-9]+)?)?"
    r"(?P<ampm> ?[AaPp][Mm])?(?P<tz> ?(?:Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2}))?"
)


def _time_format(rest: str) -> str | None:
    """The strftime codes of a time after a date ("T10:20:00Z" -> "T%H:%M:%SZ")."""
    if not rest:
        return ""
    found = _TIME_PART.fullmatch(rest)
    if found is None:
        return None
    fmt = found["sep"] + ("%I" if found["ampm"] else "%H") + ":%M"
    if found["s"]:
        fmt += ":%S"
    if found["frac"]:
        fmt += found["frac"][0] + "%f"
    if found["ampm"]:
        fmt += (" " if found["ampm"].startswith(" ") else "") + "%p"
    if found["tz"]:
        tz = found["tz"]
        space = " " if tz.startswith(" ") else ""
        zone = tz.strip()
        fmt += space + (zone if zone in ("Z", "UTC", "GMT") else "%z")
    return fmt


def _date_formats(values: _Values) -> tuple[list[str], list[str]]:
    """The strftime formats the column's dates are written in, most rows first; a pattern
    whose day/month order the values do not decide is left out, with a note why."""
    notes: list[str] = []
    orders = {d.pattern: d for d in values.profile.dates}
    formats: Counter[str] = Counter()
    undecided: dict[str, int] = {}
    for value, count in values.counts.items():
        text = value.strip()
        shape = shape_of(text) if text else TEXT
        if shape not in _DATE_SHAPE_LABELS:
            continue
        pattern = orders.get(shape.removesuffix(TIME_SUFFIX))
        parts = _DATE_HEAD.match(text)
        if pattern is None or parts is None:
            continue
        if pattern.order == "invalid":  # no value of it is a date: no format reads them
            continue
        if pattern.order in ("ambiguous", "contradictory"):
            undecided[f"{pattern.pattern} ({pattern.order})"] = pattern.rows
            continue
        time = _time_format(text[parts.end():])
        if time is None:
            continue
        date = _STRF_RE.sub(lambda m: _STRF[m.group()], pattern.format)
        formats[date + time] += count
    formats.update(values.text_dates)
    for described, rows in undecided.items():
        pattern = described.split(" ")[0]
        first = _STRF_RE.sub(lambda m: _STRF[m.group()], pattern.replace("nn", "dd", 1).replace("nn", "mm", 1))
        second = _STRF_RE.sub(lambda m: _STRF[m.group()], pattern.replace("nn", "mm", 1).replace("nn", "dd", 1))
        if "contradictory" in described:
            notes.append(
                f"{rows:,} date(s) {pattern} disagree on whether the day or the month comes "
                "first: split the source by origin, or add the right format per part"
            )
        else:
            notes.append(
                f"{rows:,} date(s) {pattern}: the day/month order is ambiguous (no value has a "
                f"part over 12); add {first!r} or {second!r} to formats once you know which"
            )
    return [fmt for fmt, _ in sorted(formats.items(), key=lambda kv: (-kv[1], kv[0]))], notes


def _choice_map(
    f: Field, values: _Values, allowed: tuple[str, ...], notes: list[str]
) -> tuple[dict[str, str], dict[str, int]]:
    """A picklist map from the values found to the allowed choices, where the values say it
    (`E-mail` -> email, `high` -> High, `Звонок` -> call), and the values it cannot place with
    their row counts: those are mapped to themselves, a skeleton for the engineer to fill in."""
    if f.type is FieldType.ENTITY_NAME:
        choices = {name: ENTITY_WORDS.get(name, ()) for name in MODEL.names}
    else:
        choices = {choice: CHOICE_SYNONYMS.get(choice, ()) for choice in allowed}
    keys: dict[str, str] = {}
    for choice, words in choices.items():
        for word in (choice, *words):
            keys.setdefault(compact(word), choice)
    # The map compares values stripped and case-folded: one entry covers every spelling.
    spellings: dict[str, Counter[str]] = {}
    for value, count in values.counts.items():
        text = value.strip()
        if text and text not in choices:
            spellings.setdefault(text.casefold(), Counter())[text] += count
    if len(spellings) > CHOICE_MAP_MAX_VALUES:
        notes.append(
            f"{len(spellings):,} distinct values are not allowed ({', '.join(choices)}); too many "
            "to list: is this column a picklist?"
        )
        return {}, {}
    mapped: dict[str, str] = {}
    unplaced: dict[str, int] = {}
    for _, found in sorted(spellings.items()):
        value = found.most_common(1)[0][0]
        if not value.isprintable():
            continue
        choice = keys.get(compact(value))
        if choice is not None:
            mapped[value] = choice
        else:
            unplaced[value] = found.total()
    for value in sorted(unplaced, key=lambda v: (-unplaced[v], v)):
        mapped[value] = value
    if unplaced:
        rows = sum(unplaced.values())
        notes.append(
            f"{len(unplaced)} value(s) in {rows:,} row(s) are not allowed ({', '.join(choices)}); "
            "each is mapped to itself below: replace it with an allowed value"
        )
    return mapped, unplaced


# --- How the source was read -------------------------------------------------------------
def _source_options(source: Source, report: ExtractReport, notes: list[str]) -> dict[str, Any]:
    """Options the user forced, and the sheet chosen when the workbook has several: reading
    the source again with the mapping must give the same columns. Only what a mapping's
    `source:` accepts is written, so the draft always loads; the rest becomes a note."""
    wanted = {
        name: getattr(source, name)
        for name in SourceOptions.model_fields
        if getattr(source, name, None) is not None
    }
    if report.sheet and len(report.sheets) > 1 and "sheet" not in wanted:
        wanted["sheet"] = report.sheet
    options = {}
    for name, value in wanted.items():
        try:
            SourceOptions.model_validate({name: value})
        except ValidationError:
            notes.append(
                f"the source was read with {name} {value!r}, which a mapping's source: cannot "
                "hold; give it on the command line when you run the mapping."
            )
            continue
        options[name] = value
    return options


# --- YAML --------------------------------------------------------------------------------
def _scalar(value: Any) -> str:
    """One YAML scalar, safe anywhere in flow or block context (':' '#' quotes, non-ASCII)."""
    text = yaml.safe_dump(
        [value], default_flow_style=True, allow_unicode=True, width=2**31 - 1
    ).strip()[1:-1]
    if "\n" in text or yaml.safe_load(f"[{text}]") != [value]:
        # A JSON string is a YAML double-quoted scalar, with line breaks escaped.
        text = json.dumps(value, ensure_ascii=False)
    return text


def _flow(data: Any) -> str:
    if isinstance(data, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ", ".join(_flow(v) for v in data) + "]"
    return _scalar(data)


def _comment(text: str) -> str:
    """Text fit for a comment line: no line breaks or control characters."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _skeleton(g: Guess) -> list[str]:
    """A guess's transforms in block style, so each value to fill in has its own line and
    row count."""
    lines = ["    transforms:"]
    for step in g.transforms:
        if not (isinstance(step, dict) and "map" in step):
            lines.append(f"      - {_flow(step)}")
            continue
        lines.append("      - map:")
        lines.append("          values:")
        lines.append(f"            # allowed: {_comment(', '.join(g.allowed))}")
        for value, target in step["map"]["values"].items():
            line = f"            {_scalar(value)}: {_scalar(target)}"
            if value in g.unplaced:
                line += f"  # FILL IN: {g.unplaced[value]:,} row(s), not an allowed value"
            lines.append(line)
    return lines


def _render(draft: Draft) -> str:
    lines = [
        f"# Draft mapping: {_comment(draft.location or 'a source')} -> {draft.entity}",
        "# Written by `crmmigrate mapping suggest`. Check every field before you rely on it:",
        "# a confidence says how well the header and the values fit, not that the guess is right.",
    ]
    if draft.read_as:
        lines.append(f"# {_comment(draft.read_as[:1].upper() + draft.read_as[1:])}.")
    for note in draft.notes:
        lines.append(f"# NOTE: {_comment(note)}")
    lines.append(f"entity: {_scalar(draft.entity)}")
    if draft.source_options:
        lines.append("source:")
        for key, value in draft.source_options.items():
            lines.append(f"  {key}: {_scalar(value)}")
    lines.append("fields:")
    for g in draft.guesses:
        lines.append(f"  # confidence {g.confidence:.2f}: {_comment('; '.join(g.reasons))}")
        for note in g.notes:
            lines.append(f"  # NOTE: {_comment(note)}")
        lines.append(f"  {_scalar(g.field)}:")
        lines.append(f"    from: {_scalar(g.column)}")
        if g.unplaced:
            lines.extend(_skeleton(g))
        elif g.transforms:
            lines.append(f"    transforms: {_flow(g.transforms)}")
    if draft.missing:
        entity = MODEL.entity(draft.entity)
        lines.append("  # No column found for these fields; map one, or give a constant ({value: ...}):")
        for name in draft.missing:
            f = entity.field(name)
            tags = [f.type.value]
            if f.required:
                tags.append("required")
            if name in draft.missing_choices:
                tags.append("one of " + ", ".join(draft.missing_choices[name]))
            lines.append(f"  #   {name} ({', '.join(tags)})")
    if draft.custom:
        lines.append("# Columns no field took, kept as custom fields so nothing is lost. Move one")
        lines.append("# to drop: to leave it behind on purpose.")
        lines.append("custom:")
        for column in draft.custom:
            note = draft.custom_notes.get(column)
            lines.append(f"  - {_scalar(column)}" + (f"  # {_comment(note)}" if note else ""))
    else:
        lines.append("custom: []")
    lines.append("drop: []")
    return "\n".join(lines) + "\n"
