"""`crmmigrate init DIR --from EXPORTS`: a migration project drafted from your own exports.

    DIR/migration.yaml    every source with the options it was read with, its entity and its
                          phone_region, each with a comment saying why
    DIR/mappings/         a mapping draft per source (`mapping suggest`), to check and edit

Each export is read once (extract), profiled (profile), and drafted against every entity
(mapping suggest): the entity is the one its file or table name says, unless the headers fit
another far better; with no name to go by, the one the headers fit clearly best. One whose
entity cannot be told gets a draft whose `entity:` is left for the user, and the summary says
so. The phone region is read from the data: the numbers written without a country code are
tried in each region the data mentions (a country column, the dialling codes of numbers
written with +) and the common ones, and the region most of them are valid in wins. No export
is copied, and no rules: the defaults crmmigrate ships apply until a file in DIR/rules/ says
otherwise.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import sqlalchemy as sa

from crmmigrate import countries
from crmmigrate.errors import BadUsage, CrmMigrateError, OutputError
from crmmigrate.extract import ExtractReport, Source, open_source
from crmmigrate.extract.base import describe_delimiter
from crmmigrate.mapping.suggest import Draft, compact, suggest_profiled
from crmmigrate.model import MODEL, FieldType
from crmmigrate.passwords import mask_url
from crmmigrate.profile import PHONE, Profile, Profiler
from crmmigrate.staging import file_name
from crmmigrate.scaffold import check_directory
from crmmigrate.validate.rules import load_rules

# What a file or table is called, per entity: English and the languages of the alias table.
NAME_WORDS: dict[str, tuple[str, ...]] = {
    "opportunity_contact_role": ("opportunitycontactrole", "contactrole", "dealcontact", "role"),
    "account": ("account", "company", "companies", "organisation", "organization", "org", "customer",
                "client", "firma", "firmen", "kunde", "kunden", "unternehmen", "konto", "empresa", "societe",
                "компания", "компании", "контрагент", "контрагенты", "клиенты", "客户", "公司"),
    "contact": ("contact", "people", "person", "persons", "kontakt", "kontakte", "ansprechpartner", "contacto",
                "контакт", "контакты", "联系人"),
    "lead": ("lead", "prospect", "interessent", "interessenten", "лид", "лиды", "线索"),
    "opportunity": ("opportunity", "opportunities", "deal", "pipeline", "chance", "chancen", "oportunidad",
                    "сделка", "сделки", "商机"),
    "case": ("case", "ticket", "support", "incident", "complaint", "anfrage", "anfragen", "обращение",
             "обращения", "заявки", "工单"),
    "activity": ("activity", "activities", "call", "task", "event", "meeting", "visit", "history", "aktivitat",
                 "aktivitaten", "anruf", "anrufe", "звонки", "задачи", "活动"),
}
# Files crmmigrate reads, by suffix; a folder's other files are listed as skipped, never dropped silently.
FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".xlsx", ".xlsm", ".json", ".jsonl", ".ndjson")
DATABASE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# Regions tried for numbers without a country code, besides those the data names.
COMMON_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "AT", "CH", "PL", "CZ", "SK", "SE", "NO",
                  "DK", "FI", "PT", "IE", "RU", "UA", "CN", "JP", "IN", "BR", "MX", "CA", "AU", "TR", "ZA")
COUNTRY_WORDS = ("country", "land", "pays", "pais", "paese", "kraj", "zeme", "страна", "国家", "国")
# Distinct national numbers tried per region: enough to tell regions apart, bounded in time.
REGION_SAMPLE = 1000
# A region is guessed when at least this share of the numbers without a country code is valid in it.
REGION_SHARE = 0.5
# Headers alone decide an entity when its fit beats the next one's by this factor.
HEADER_MARGIN = 1.25
UNDECIDED = "FILL IN"


@dataclass
class RegionGuess:
    """The region a source's numbers without a country code are read in, and the evidence."""

    region: str | None
    why: str


@dataclass
class DraftedSource:
    """One export: how it was read, what it is, and where its mapping draft went."""

    location: str  # as migration.yaml has it, relative to the project when it is a file
    shown: str  # for people: no password
    name: str
    entity: str | None  # None: left for the user
    entity_why: str
    options: dict[str, Any]  # extract options as detected, pinned in migration.yaml
    option_notes: dict[str, str]
    region: RegionGuess
    rows: int
    mapping: Path
    draft: Draft


@dataclass
class Project:
    directory: Path
    config: Path
    sources: list[DraftedSource] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files in a folder crmmigrate cannot read, by type
    files: list[Path] = field(default_factory=list)

    @property
    def undecided(self) -> list[DraftedSource]:
        return [s for s in self.sources if s.entity is None]


def init_from(directory: Path, exports: list[str], *, entities: dict[str, str] | None = None,
              force: bool = False) -> Project:
    """Draft a migration project in `directory` over `exports` (folders, files, SQLAlchemy URLs:
    every table of the database). `entities` forces an export's entity, by its file name, stem,
    path or table."""
    directory = Path(directory)
    check_directory(directory, force=force)
    forced = dict(entities or {})
    for entity in forced.values():
        if entity not in MODEL.names:
            raise BadUsage(f"--entity: unknown entity {entity!r}; entities: {', '.join(MODEL.names)}.")
    project = Project(directory, directory / "migration.yaml")
    found = _sources(exports, project.skipped)
    if not found:
        raise BadUsage(f"no export to read in {', '.join(exports)}.",
                       hint=f"Give files ({', '.join(FILE_SUFFIXES)}), folders holding them, or a database URL.")
    # Before the long part: an --entity that names no export is a typo.
    stray = [k for k in forced if all(k not in keys for _, keys in found)]
    if stray:
        raise BadUsage(f"--entity {', '.join(f'{k}={forced[k]}' for k in stray)}: no such export among "
                       f"{', '.join(_shown(source) for source, _ in found)}.")
    rules = load_rules()
    names: set[str] = set()
    for source, keys in found:
        name = source.name or "source"
        if name in names and not source.is_url:  # two contacts.csv: sales_reps_contacts, not contacts_2
            name = f"{Path(source.location).resolve().parent.name}_{name}"
        name = _unique(name, names)
        entity = next((forced.pop(k) for k in keys if k in forced), None)
        project.sources.append(_draft_source(source.model_copy(update={"name": name}), directory, rules, entity))
    order = {name: i for i, name in enumerate(MODEL.load_order())}
    project.sources.sort(key=lambda s: (order.get(s.entity or "", len(order)), s.name))
    try:
        for drafted in project.sources:
            project.files.append(_write(drafted.mapping, _mapping_text(drafted)))
        project.files.append(_write(project.config, _config_text(project)))
    except OSError as exc:
        raise OutputError(f"cannot write the project: {exc.strerror}.", file=exc.filename or str(directory)) from None
    return project


def _sources(exports: list[str], skipped: list[str]) -> list[tuple[Source, list[str]]]:
    """Every source the exports name, with the keys `--entity` may use for it."""
    found: list[tuple[Source, list[str]]] = []
    for export in exports:
        if "://" in export:
            found += _tables(export)
            continue
        path = Path(export)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name.startswith("."):
                    continue
                suffix = child.suffix.lower()
                if suffix in FILE_SUFFIXES:
                    found.append(_file(child))
                elif suffix in DATABASE_SUFFIXES:
                    found += _tables(f"sqlite:///{child}")
                else:
                    skipped.append(str(child))
        elif path.is_file():
            found += _tables(f"sqlite:///{path}") if path.suffix.lower() in DATABASE_SUFFIXES else [_file(path)]
        else:
            raise BadUsage(f"--from {export}: no such file or folder.")
    return found


def _file(path: Path) -> tuple[Source, list[str]]:
    return Source(location=str(path), name=path.stem), [str(path), path.name, path.stem]


def _tables(url: str) -> list[tuple[Source, list[str]]]:
    """A database's tables, each a source (read only: nothing is written to it)."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names()
        engine.dispose()
    except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        raise CrmMigrateError(f"cannot list the tables of the database: {str(exc).splitlines()[0]}.",
                              file=mask_url(url)) from None
    if not tables:
        raise BadUsage("the database has no tables to read.", file=mask_url(url))
    return [(Source(location=url, table=t, name=t), [t, f"{url}#{t}", f"{mask_url(url)}#{t}"]) for t in tables]


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    taken.add(candidate)
    return candidate


def _draft_source(source: Source, directory: Path, rules: Any, forced: str | None) -> DraftedSource:
    """Read the export once, profile it, draft it against every entity and pick one."""
    profiler = Profiler()
    try:
        extraction = open_source(source)
        for chunk in extraction.chunks():
            profiler.add(chunk)
    except CrmMigrateError as exc:
        said = f" (crmmigrate extract says: {exc.hint})" if exc.hint else ""
        raise CrmMigrateError(
            exc.message, file=exc.file or _shown(source), line=exc.line, column=exc.column,
            hint=f"init stops rather than leave an export out: fix it, or give --from the other exports one by "
                 f"one{said}.") from None
    report = extraction.report
    profile = profiler.profile(columns=report.columns, extract=report)
    drafts = {e: suggest_profiled(profiler, report, source, e, rules) for e in MODEL.names}
    if forced is not None:
        entity: str | None = forced
        why = "given with --entity"
    else:
        entity, why = guess_entity(source.table or Path(source.location).stem, drafts)
    draft = drafts[entity] if entity else drafts[_best(drafts)[0][0]]
    region = guess_region(_phone_values(profiler, profile, draft), _country_values(profiler, draft))
    options, notes = _pinned(source, report)
    return DraftedSource(
        location=_location(source, directory), shown=_shown(source), name=str(source.name), entity=entity,
        entity_why=why, options=options, option_notes=notes, region=region, rows=report.rows,
        mapping=directory / "mappings" / f"{file_name(str(source.name))}.yaml", draft=draft)


def _shown(source: Source) -> str:
    return f"{mask_url(source.location)}#{source.table}" if source.is_url else source.location


def _location(source: Source, directory: Path) -> str:
    """The export as migration.yaml names it: relative to the project (the config resolves it so)."""
    if source.is_url:
        url = sa.make_url(source.location)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
                and not url.database.startswith("file:"):
            url = url.set(database=_relative(Path(url.database), directory))
        return url.render_as_string(hide_password=False)
    return _relative(Path(source.location), directory)


def _relative(path: Path, directory: Path) -> str:
    """Relative to the project when the export sits near it (the two move together), else absolute."""
    try:
        relative = os.path.relpath(path.resolve(), directory.resolve())
    except ValueError:  # another drive
        return str(path.resolve())
    return str(path.resolve()) if Path(relative).parts[:3] == ("..", "..", "..") else relative


# -- the entity --------------------------------------------------------------------------------


def _words(name: str) -> list[str]:
    """A file or table name's words, lower case, accents off: 'CRM_Contacts-2019' -> crm, contacts, 2019."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [compact(w) for w in re.split(r"[\W_]+", spaced) if w]


def _name_entities(name: str) -> list[str]:
    """The entities a name speaks of: a word of NAME_WORDS (or its plural) in it, or two words
    that together make one ('contact_roles')."""
    words = _words(name)
    joined = [a + b for a, b in zip(words, words[1:], strict=False)] + [a + b + c for a, b, c in
                                                                        zip(words, words[1:], words[2:], strict=False)]
    found = []
    for entity, names in NAME_WORDS.items():
        keys = {compact(n) for n in names}
        plurals = {k + "s" for k in keys} | {k + "es" for k in keys} | {k[:-1] + "ies" for k in keys if k.endswith("y")}
        if any(w in keys or w in plurals for w in [*joined, *words]):
            found.append(entity)
    if "opportunity_contact_role" in found:  # 'deal_contact_roles' is not a contact, nor a deal
        return ["opportunity_contact_role"]
    return found


def _fit(draft: Draft) -> float:
    """How well the headers fit an entity: the confidence of each field found (the id aside: one
    is always found), and the share of its required fields found."""
    entity = MODEL.entity(draft.entity)
    found = [g for g in draft.guesses if g.field != "id"]
    required = [f.name for f in entity.fields if f.required and f.name != "id"]
    covered = sum(1 for r in required if draft.guess(r) is not None) / len(required) if required else 1.0
    return sum(g.confidence for g in found) + covered


def _best(drafts: dict[str, Draft]) -> list[tuple[str, float]]:
    return sorted(((e, _fit(d)) for e, d in drafts.items()), key=lambda pair: -pair[1])


def guess_entity(name: str, drafts: dict[str, Draft]) -> tuple[str | None, str]:
    """The entity of an export called `name` whose drafts against every entity are `drafts`,
    and why; None when it cannot be told."""
    ranked = _best(drafts)
    fits = dict(ranked)
    (best, best_fit), (second, second_fit) = ranked[0], ranked[1]

    def columns(entity: str) -> str:
        shown = [g.column for g in drafts[entity].guesses if g.field != "id"][:4]
        return ", ".join(shown) or "none of its fields"

    named = _name_entities(name)
    if len(named) == 1:
        entity = named[0]
        if fits[entity] * 2 >= best_fit:
            return entity, f"the name '{name}'; headers found: {columns(entity)}"
        return best, (f"the headers ({columns(best)}) fit {best} far better than the name '{name}' "
                      f"fits {entity}")
    if best_fit > 0 and best_fit >= HEADER_MARGIN * second_fit:
        return best, f"the headers: {columns(best)}" + (f" (the name '{name}' says {' or '.join(named)})"
                                                         if named else "")
    said = f"the name '{name}' says {' or '.join(named)}; " if named else f"the name '{name}' says nothing; "
    return None, f"{said}the headers fit {best} ({best_fit:.1f}) and {second} ({second_fit:.1f}) alike"


# -- the phone region --------------------------------------------------------------------------


def _phone_values(profiler: Profiler, profile: Profile, draft: Draft) -> Counter[str]:
    """Every value of the columns that hold phone numbers: those the draft maps to a phone field,
    and those whose values mostly look like phone numbers."""
    entity = MODEL.entity(draft.entity)
    columns = {g.column for g in draft.guesses if entity.field(g.field).type is FieldType.PHONE}
    columns |= {c.name for c in profile.columns if c.filled and c.shape_count(PHONE) >= 0.5 * c.filled}
    values: Counter[str] = Counter()
    for column in columns:
        values.update({v: n for v, n in profiler.counts.get(column, Counter()).items() if v.strip()})
    return values


def _country_values(profiler: Profiler, draft: Draft) -> tuple[str, Counter[str]] | None:
    """The country column and its values: the draft's country field, else a column named so."""
    entity = MODEL.entity(draft.entity)
    column = next((g.column for g in draft.guesses if entity.field(g.field).type is FieldType.COUNTRY), None)
    if column is None:
        column = next((c for c in profiler.counts if any(w in compact(c) for w in COUNTRY_WORDS)), None)
    if column is None:
        return None
    return column, Counter({v: n for v, n in profiler.counts[column].items() if v.strip()})


def _digits(value: str) -> int:
    return sum(ch.isdigit() for ch in value)


def guess_region(phones: Counter[str], country: tuple[str, Counter[str]] | None) -> RegionGuess:
    """The region where most of the numbers written without a country code are valid, with the
    evidence: how many are valid there, what a country column says, which dialling codes the
    numbers written with + carry. None when no region fits most of them, or none is needed."""
    coded: Counter[str] = Counter()
    national: Counter[str] = Counter()
    for value, count in phones.items():
        text = value.strip()
        if _digits(text) < 5:
            continue
        if text.startswith(("+", "00")):
            try:
                number = phonenumbers.parse("+" + text[2:] if text.startswith("00") else text, None)
            except phonenumbers.NumberParseException:
                continue
            found = phonenumbers.region_code_for_number(number)
            if found and found != "ZZ":
                coded[found] += count
        else:
            national[text] += count
    said: Counter[str] = Counter()
    if country is not None:
        for value, count in country[1].items():
            code = countries.to_alpha2(value)
            if code:
                said[code] += count
    evidence = []
    if said:
        top, top_count = said.most_common(1)[0]
        evidence.append(f"country column '{country[0]}' says {top} for {top_count:,} of {sum(country[1].values()):,} "
                        "records")
    if coded:
        evidence.append("numbers with +: " + ", ".join(
            f"{r} {n:,}" for r, n in coded.most_common(3)))
    if not national:
        why = "every number has its country code" if coded else "no phone numbers found"
        return RegionGuess(None, "; ".join([why, *evidence]))
    sample = national.most_common(REGION_SAMPLE)
    total = sum(n for _, n in sample)
    candidates = [r for r in dict.fromkeys([*said, *coded, *COMMON_REGIONS]) if r in phonenumbers.SUPPORTED_REGIONS]
    valid: dict[str, int] = {}
    styled: dict[str, int] = {}  # valid, and written as the region writes its numbers
    for region in candidates:
        judged = [(_judge(v, region), n) for v, n in sample]
        valid[region] = sum(n for (ok, _), n in judged if ok)
        styled[region] = sum(n for (_, own), n in judged if own)
    # Many plans accept many digit strings ((212) 736-5000 is a valid German number too); the way
    # they are written, and what the data itself says, tell such regions apart.
    ranked = sorted(candidates, key=lambda r: (-(valid[r] + styled[r]), -said[r], -coded[r]))
    best = ranked[0]
    read = f"{valid[best]:,} of {total:,} numbers without a country code are valid in {best}"
    if styled[best]:
        read += f" ({styled[best]:,} written as {best} writes them)"
    runner_up = ranked[1] if len(ranked) > 1 and valid[ranked[1]] else None
    if runner_up:
        read += f"; next: {runner_up}, {valid[runner_up]:,} valid"
    if valid[best] < REGION_SHARE * total:
        fits = f"{best}, {valid[best]:,}" if valid[best] else "none"
        return RegionGuess(None, "; ".join([f"not guessed: no region reads most of the {total:,} numbers without "
                                            f"a country code (most: {fits})", *evidence]))
    return RegionGuess(best, "; ".join([read, *evidence]))


def _judge(value: str, region: str) -> tuple[bool, bool]:
    """Whether `value` reads as a national number of `region`: a valid number of the region
    with the digits the region writes it with (a German number begins with its 0: '3865286' is
    no German number as written, though +49 3865286 is one); and whether it is also laid out as
    the region lays its numbers out."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False, False
    if not phonenumbers.is_valid_number_for_region(number, region):  # +1 212 is the US's, not Canada's
        return False, False
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if _digits_of(national) != _digits_of(value):
        return False, False
    return True, _layout(national) == _layout(value)


def _digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _layout(text: str) -> str:
    """Digits, and where groups break: '(212) 736-5000' -> '(212)_736_5000'; '030/1234' -> '030_1234'."""
    return re.sub(r"[\s./-]+", "_", text.strip())


# -- the files written -------------------------------------------------------------------------


def _pinned(source: Source, report: ExtractReport) -> tuple[dict[str, Any], dict[str, str]]:
    """The options the export was read with, to write into migration.yaml: every run then reads
    it the same way, and each can be changed there."""
    options: dict[str, Any] = {}
    notes: dict[str, str] = {}
    if source.table:
        options["table"] = source.table
    if report.encoding:
        options["encoding"] = report.encoding
        notes["encoding"] = "detected" + (f", confidence {report.encoding_confidence:.2f}"
                                          if report.encoding_confidence is not None else "")
    if report.delimiter:
        options["delimiter"] = report.delimiter
        notes["delimiter"] = f"{describe_delimiter(report.delimiter)}, detected"
    if report.header_row is not None and report.format in ("csv", "excel"):
        options["header_row"] = report.header_row
        notes["header_row"] = "detected" + (f"; {report.skipped_above_header} row(s) above it skipped"
                                            if report.skipped_above_header else "")
    if report.sheet:
        options["sheet"] = report.sheet
        notes["sheet"] = "detected" + (f"; other sheets: {', '.join(s for s in report.sheets if s != report.sheet)}"
                                       if len(report.sheets) > 1 else "")
    if report.records_path:
        options["records"] = report.records_path
        notes["records"] = "detected"
    return options, notes


def _yaml_scalar(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip().removesuffix(
        "\n...").strip()


def _mapping_text(drafted: DraftedSource) -> str:
    text = drafted.draft.to_yaml()
    if drafted.entity is None:
        text = text.replace(f"\nentity: {drafted.draft.entity}\n",
                            f"\n# The entity could not be told: {drafted.entity_why}.\n"
                            f"# The fields below are drafted for {drafted.draft.entity}; write the entity this "
                            f"source holds (one of {', '.join(MODEL.names)}),\n# and check the fields.\n"
                            f"entity: {UNDECIDED}\n", 1)
    return text


def _config_text(project: Project) -> str:
    config = project.config
    lines = [
        "# A migration of your exports, drafted by `crmmigrate init --from`.",
        "# Check each source's entity, options and phone_region below, and its mapping in mappings/; then",
        f"#   crmmigrate validate --config {config}",
        f"#   crmmigrate run {config}",
        "# Every path here is relative to this file. The rules are crmmigrate's defaults: a file in",
        "# rules/ beside this one (validation.yaml, thresholds.yaml, cleaning.yaml, dedupe.yaml) wins.",
        "target: sqlite:///migration.db    # any SQLAlchemy URL, e.g. postgresql+psycopg://me@db/crm",
        "sources:",
    ]
    for s in project.sources:
        entity = s.entity or f"entity not recognised ({UNDECIDED} in its mapping)"
        lines.append(f"  # {s.shown}: {s.rows:,} rows; {entity}: {s.entity_why}")
        lines.append(f"  - location: {_yaml_scalar(s.location)}")
        lines.append(f"    mapping: {_yaml_scalar(os.path.relpath(s.mapping, project.directory))}")
        if s.name != (s.options.get("table") or Path(s.location).stem):
            lines.append(f"    name: {_yaml_scalar(s.name)}")
        for key, value in s.options.items():
            note = s.option_notes.get(key)
            lines.append(f"    {key}: {_yaml_scalar(value)}" + (f"    # {note}" if note else ""))
        if s.region.region:
            lines.append(f"    phone_region: {s.region.region}    # {s.region.why}")
        else:
            lines.append(f"    # phone_region: none set: {s.region.why}")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
