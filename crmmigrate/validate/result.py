"""What validation found: per entity and field the error count, rate, threshold and verdict,
and every failing value with its provenance and reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

FAILURE_COLUMNS = ("_source", "_file", "_row", "entity", "id", "field", "value", "reason")
SAMPLES_PER_CHECK = 5


@dataclass
class Check:
    """One line of the gate: an entity's field (or a named record-level check) against its
    threshold. `errors` counts rows with at least one failure for it."""

    entity: str
    field: str
    cls: str  # threshold class: key, pointer, general, lead; or "completeness"
    errors: int
    rows: int
    threshold: float
    samples: list[dict[str, str]] = field(default_factory=list)  # value, reason, row
    reasons: dict[str, int] = field(default_factory=dict)  # reason kind -> rows

    @property
    def name(self) -> str:
        return f"{self.entity}.{self.field}"

    @property
    def rate(self) -> float:
        return self.errors / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return self.rate <= self.threshold + 1e-12

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "field": self.field,
            "class": self.cls,
            "errors": self.errors,
            "rows": self.rows,
            "rate": self.rate,
            "threshold": self.threshold,
            "passed": self.passed,
            "reasons": self.reasons,
            "samples": self.samples,
        }


@dataclass
class EntityResult:
    entity: str
    rows: int
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "rows": self.rows,
            "passed": self.passed,
            "checks": [c.as_dict() for c in self.checks],
        }


@dataclass
class ValidationResult:
    """The gate's verdict over every entity validated together."""

    entities: list[EntityResult]
    failures: pd.DataFrame  # FAILURE_COLUMNS: every failing value, one row per (row, field, reason)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.entities)

    @property
    def checks(self) -> list[Check]:
        return [c for e in self.entities for c in e.checks]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def entity(self, name: str) -> EntityResult:
        return next(e for e in self.entities if e.entity == name)

    def check(self, entity: str, name: str) -> Check:
        return next(c for c in self.entity(entity).checks if c.field == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": [c.name for c in self.failed],
            "notes": self.notes,
            "entities": [e.as_dict() for e in self.entities],
        }
