"""Load: write canonical datasets into the target CRM schema, idempotently, with the ledger."""

from crmmigrate.load.engine import (
    LoadReport,
    SourceLoad,
    TargetUnreachable,
    connect,
    load,
    one_database_per_thread,
)
from crmmigrate.load.schema import build_metadata, check_target, init_target

__all__ = [
    "LoadReport",
    "SourceLoad",
    "TargetUnreachable",
    "build_metadata",
    "check_target",
    "connect",
    "init_target",
    "load",
    "one_database_per_thread",
]
