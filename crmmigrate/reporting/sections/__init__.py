"""The reports an executive opens first, one module per section, each filling a `Section` of
tables, findings and metrics from the loaded target with aggregate queries."""

from __future__ import annotations

from collections.abc import Callable

from crmmigrate.reporting.model import Section
from crmmigrate.reporting.sections import accounts, cases, contacts, dates, leads, picklists, pipeline
from crmmigrate.reporting.sections.base import Context

# In the order a report shows them.
SECTIONS: tuple[tuple[str, Callable[[Context], Section]], ...] = (
    ("pipeline", pipeline.build),
    ("accounts", accounts.build),
    ("contacts", contacts.build),
    ("cases", cases.build),
    ("leads", leads.build),
    ("picklists", picklists.build),
    ("dates", dates.build),
)

__all__ = ["SECTIONS", "Context"]
