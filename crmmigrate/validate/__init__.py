"""Validate: decide, per entity and field, whether canonical data is fit to load, and why not."""

from __future__ import annotations

from crmmigrate.validate.core import validate
from crmmigrate.validate.result import Check, EntityResult, ValidationResult
from crmmigrate.validate.rules import load_rules, load_thresholds, parse_overrides

__all__ = [
    "Check",
    "EntityResult",
    "ValidationResult",
    "load_rules",
    "load_thresholds",
    "parse_overrides",
    "validate",
]
