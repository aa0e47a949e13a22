"""Which entities a run may load: those whose gate passed, and whose pointers lead only into
entities that are loaded too (a child of a held-back table could not resolve its pointers)."""

from __future__ import annotations

from crmmigrate.model import ANY_ENTITY, MODEL
from crmmigrate.validate.core import load_first
from crmmigrate.validate.result import EntityResult, ValidationResult


def loadable(result: ValidationResult, *, allow_failing: bool = False) -> tuple[list[str], dict[str, str]]:
    """Entities to load, in load order, and why each other validated entity is held back."""
    validated = {e.entity: e for e in result.entities}
    held: dict[str, str] = {}
    if not allow_failing:
        for name in MODEL.load_order():
            entity = validated.get(name)
            if entity is None:
                continue
            if not entity.passed:
                held[name] = "gate failed: " + ", ".join(c.name for c in entity.failed)
                first = _load_first(entity, validated)
                if first:
                    held[name] += f"; its pointers lead to records not in the target: load {', '.join(first)} first"
                continue
            parents = {f.target for f in MODEL.entity(name).pointers if f.target not in (ANY_ENTITY, name)}
            blocked = sorted(p for p in parents if p in held)
            if blocked:
                held[name] = f"points into {', '.join(blocked)}, which is held back"
    order = [n for n in MODEL.load_order() if n in validated and n not in held]
    return order, held


def _load_first(entity: EntityResult, validated: dict[str, EntityResult]) -> list[str]:
    """The entities outside the run that a failed pointer check of `entity` found records
    missing from: a staged cutover in the wrong order, put right by loading them first."""
    reasons = {r for c in entity.failed if c.cls == "pointer" for r in c.reasons}
    return [n for n in MODEL.load_order() if n not in validated and load_first(n) in reasons]
