"""Fixtures shared by the test modules: the real database servers the CI script starts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _answering(url: str, start: str) -> str:
    # A missing server fails the test rather than skipping it: a skipped database test
    # looks like a passing one in CI.
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.DBAPIError as exc:
        pytest.fail(
            f"no database server answers at {url} ({str(exc.orig).strip()}). "
            f"Start it with: {start}",
            pytrace=False,
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _answering(
        POSTGRES_URL, "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    )


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    return _answering(
        MARIADB_URL, "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
    )


def empty_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty target database for a fixture: a SQLite file, or a new database on
    the server (`backend` postgres or mariadb), dropped afterwards even while a connection the
    code under test left open still holds it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'crm.db'}"
        return
    base = request.getfixturevalue(f"{backend}_url")
    name = f"crm_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgres" else ""
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE {name}{force}"))
        admin.dispose()


@pytest.fixture(scope="session")
def sample_datasets():
    """Every sample source mapped with the shipped mappings, as one canonical dataset per entity."""
    import pandas as pd

    from tests.test_mapping_samples import NAMES, mapped, mapping

    by_entity: dict = {}
    for name in NAMES:
        by_entity.setdefault(mapping(name).entity, []).append(mapped(name).frame)
    return {e: pd.concat(parts, ignore_index=True) for e, parts in by_entity.items()}
