"""What an organisation's people say about it: fields of a record made with the records that
point at it (cross-entity evidence), which the dedupe rules compare and block on like its own
(`RELATED_FIELDS` names them).

For an account:
- domain: its website's domain; where it has none, the domain most of its contacts' work
  mailboxes are at (personal providers aside). The copy of a company entered without a website
  still has people writing from @pacificbanknewyork.com, the domain the other copy's website
  names.
- switchboard: its phone; where it has none, the number most of its contacts share, two of them
  at least (one person's direct line is not the company's).

Each falls back on the record's own field alone where no child dataset is at hand, so rules
using them work on accounts deduplicated by themselves.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from crmmigrate.clean.normalisers import PERSONAL_EMAIL_DOMAINS
from crmmigrate.dedupe.rules import RELATED_FIELDS
from crmmigrate.model import MODEL


def related_fields(frame: pd.DataFrame, entity: str, datasets: dict[str, pd.DataFrame],
                   wanted: list[str]) -> dict[str, pd.Series]:
    """The related fields among `wanted` that `frame` (records of `entity`, with `_legacy` ids)
    lacks, made from its own fields and its children in `datasets`; aligned with `frame`."""
    names = [n for n in wanted if n in RELATED_FIELDS.get(entity, {}) and n not in frame]
    if not names:
        return {}
    ids = frame["_legacy"].astype("str")
    out: dict[str, pd.Series] = {}
    if "domain" in names:
        own = domains(frame["website"]) if "website" in frame else pd.Series(None, index=frame.index, dtype="str")
        mail = domains(_children(datasets, entity, "email"), mailboxes=True)
        out["domain"] = own.where(own.notna(), ids.map(_commonest(mail, at_least=1)).astype("str"))
    if "switchboard" in names:
        own = frame["phone"] if "phone" in frame else pd.Series(None, index=frame.index, dtype=object)
        own = pd.Series([v if isinstance(v, str) and v.strip() else None for v in own], index=frame.index, dtype="str")
        phones = _children(datasets, entity, "phone")
        digits = pd.Series(phones.to_numpy(dtype=object), index=phones.index, dtype="str").str.replace(
            r"\D", "", regex=True)
        out["switchboard"] = own.where(own.notna(), ids.map(_commonest(digits, at_least=2)).astype("str"))
    return out


def domains(values: pd.Series, *, mailboxes: bool = False) -> pd.Series:
    """The domain of each website (or, with `mailboxes`, of each email address, personal
    providers blank), lower case, blank where none; worked out once per distinct value."""
    codes, distinct = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    read = _mail_domain if mailboxes else _site_domain
    found = np.array([read(v) if isinstance(v, str) else None for v in distinct] + [None], dtype=object)
    return pd.Series(found[codes], index=values.index, dtype="str")


def _site_domain(value: str) -> str | None:
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.strip().lower()).removeprefix("www.").split("/", 1)[0]
    return text if "." in text and "@" not in text else None


def _mail_domain(value: str) -> str | None:
    text = value.strip().lower()
    if text.count("@") != 1:
        return None
    domain = text.rsplit("@", 1)[1]
    return domain if "." in domain and domain not in PERSONAL_EMAIL_DOMAINS else None


def _children(datasets: dict[str, pd.DataFrame], entity: str, name: str) -> pd.Series:
    """`name` of every record pointing at an `entity` record, indexed by the id it points at."""
    found = []
    for child, frame in datasets.items():
        if child not in MODEL.names or name not in frame:
            continue
        for f in MODEL.entity(child).pointers:
            if f.target == entity and f.name in frame:
                found.append(pd.Series(frame[name].to_numpy(dtype=object),
                                       index=frame[f.name].astype("str").str.strip().to_numpy(dtype=object)))
    return pd.concat(found) if found else pd.Series([], dtype=object)


def _commonest(values: pd.Series, *, at_least: int) -> pd.Series:
    """Per index value (a parent's id), its commonest non-blank value held `at_least` times
    (ties: the first in sorted order)."""
    values = values[values.notna() & (values.astype("str") != "") & values.index.notna()]
    if values.empty:
        return pd.Series([], dtype="str")
    counts = pd.DataFrame({"id": values.index.astype(str), "value": values.astype(str).to_numpy()}).value_counts()
    counts = counts[counts >= at_least].reset_index(name="n").sort_values(["id", "n", "value"],
                                                                         ascending=[True, False, True])
    top = counts.drop_duplicates("id")
    return pd.Series(top["value"].to_numpy(), index=top["id"].to_numpy())
