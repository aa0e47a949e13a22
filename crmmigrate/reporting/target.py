"""Opening a target to report on: read-only, with the load's timeouts and plain errors, and
only when it is one crmmigrate loaded (a report on the wrong database says so instead of
failing on its first query)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from crmmigrate.connections import read_only
from crmmigrate.errors import CrmMigrateError
from crmmigrate.load import connect
from crmmigrate.load.engine import TargetUnreachable
from crmmigrate.load.schema import check_target
from crmmigrate.passwords import mask_url


class NotATarget(CrmMigrateError):
    """A database that lacks the target schema's tables or columns: nothing to report on."""


def open_target(url: str) -> sa.Engine:
    """An engine on the target at `url` whose connections cannot write. A SQLite file that
    does not exist is refused (connecting would create an empty one)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise TargetUnreachable(f"not a database URL: {exc}.", hint="e.g. sqlite:///migration.db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not parsed.database.startswith("file:") and not Path(parsed.database).is_file():
        raise TargetUnreachable(f"{mask_url(url)}: no such database file {parsed.database!r}.",
                                hint="Give the target `crmmigrate run` loaded, e.g. sqlite:///migration.db.")
    return read_only(connect(url))


def check_is_target(engine: sa.Engine) -> None:
    problems = check_target(engine)
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise NotATarget(
            "this database is not a crmmigrate target: " + "; ".join(problems[:5]) + more + ".",
            file=mask_url(engine.url),
            hint="Give the URL of a database that `crmmigrate run` or `crmmigrate load` loaded.")
