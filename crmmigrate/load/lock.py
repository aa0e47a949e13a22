"""One run at a time per target: an advisory lock held for the whole load.

Two runs writing one target at once would each see the other's rows half written: one
would take the other's inserts for refusals and mark them `rejected` in id_map. So every
run (and `load`, and `target repair`) holds the target's lock from the moment it connects
until it has checked its ledger. Each database has its own kind, held by a connection (or an
open file) of its own, so a killed run releases it with its session:

- PostgreSQL: `pg_try_advisory_lock` on a key derived from the database and schema;
- MariaDB/MySQL: `GET_LOCK` on a name derived from the database;
- SQLite: `flock` on a file beside the database (`crm.db.crmmigrate-lock`), which holds the
  pid of the run that has it. The file stays: removing it would let a third run lock a new
  file while a second still waits on the old one.

A process forked while the lock is held (the bulk loader's preparers) closes its copies of the
lock's file or socket at once: otherwise, should the run be killed, a child that lives on
would keep the lock held, and every later run refused.

A run that finds the lock taken is refused at once (`TargetBusy`, exit 2), or waits up to
`wait` seconds for it. Through one engine the lock is re-entrant: `load` inside a run takes
the run's lock (another engine on the same target is another run).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from crmmigrate.errors import CrmMigrateError
from crmmigrate.passwords import mask_url

POLL_SECONDS = 0.2  # how often a waiting run tries the lock again
LOCK_SUFFIX = ".crmmigrate-lock"

_held: dict[int, int] = {}  # the locks this process holds, by engine, and how often it took them
_open: dict[int, _Lock] = {}  # and the locks themselves
_forgotten: list[_Lock] = []  # in a forked child: its parent's locks, kept so no finaliser touches them

# Told once, when the lock is taken and the run will wait: the target (masked), the seconds.
Waiting = Callable[[str, float], None]


class TargetBusy(CrmMigrateError):
    """Another crmmigrate run holds the target's lock."""


class _Lock:
    """How one kind of database takes and gives back the lock; `holder` says who has it, if
    the database can tell."""

    def take(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Give up trying: close what was opened to take the lock, which is another's."""

    def holder(self) -> str:
        return ""

    def forget(self) -> None:
        """In a forked child: close the child's copy of what holds the lock (the parent's stays)."""


class _ServerLock(_Lock):
    """A lock the server holds for a session: on a connection of its own, in autocommit, so
    no transaction stays open while it is held."""

    def __init__(self, engine: sa.Engine) -> None:
        self.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.connection.detach()  # closed with the lock, never left in a pool holding a session

    def _scalar(self, sql: str, **params: object) -> object:
        return self.connection.execute(sa.text(sql), params).scalar()

    def release(self) -> None:
        try:
            self._unlock()
        finally:
            self.connection.close()

    def close(self) -> None:
        self.connection.close()

    def _unlock(self) -> None:
        raise NotImplementedError

    def forget(self) -> None:
        raw = self.connection.connection.dbapi_connection
        sock = getattr(raw, "_sock", None)  # PyMySQL's socket; psycopg's libpq connection has a number
        fd = sock.detach() if sock is not None else raw.pgconn.socket
        with contextlib.suppress(OSError):
            os.close(fd)


class _PostgresLock(_ServerLock):
    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        place = str(self._scalar("SELECT current_database() || '.' || current_schema()"))
        digest = hashlib.blake2b(f"crmmigrate:{place}".encode(), digest_size=8).digest()
        self.key = int.from_bytes(digest, "big", signed=True)

    def take(self) -> bool:
        return bool(self._scalar("SELECT pg_try_advisory_lock(:key)", key=self.key))

    def _unlock(self) -> None:
        self._scalar("SELECT pg_advisory_unlock(:key)", key=self.key)

    def holder(self) -> str:
        found = self.connection.execute(sa.text(
            "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key AND l.objsubid = 1 LIMIT 1"), {"key": self.key}).first()
        if found is None:
            return ""
        pid, client, start = found
        return f"server process {pid}, client {client or 'local'}, connected {start:%Y-%m-%d %H:%M:%S %Z}".rstrip()


class _MariaDBLock(_ServerLock):
    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        name = f"crmmigrate:{self._scalar('SELECT DATABASE()')}"
        # GET_LOCK names are at most 64 characters, and server-wide.
        self.name = name if len(name) <= 64 else "crmmigrate:" + hashlib.sha1(name.encode()).hexdigest()

    def take(self) -> bool:
        return self._scalar("SELECT GET_LOCK(:name, 0)", name=self.name) == 1

    def _unlock(self) -> None:
        self._scalar("SELECT RELEASE_LOCK(:name)", name=self.name)

    def holder(self) -> str:
        found = self._scalar("SELECT IS_USED_LOCK(:name)", name=self.name)
        return f"connection {found}" if found else ""


class _FileLock(_Lock):
    """flock on a file beside the SQLite database: per open file, so it is one process's
    (SQLite's own fcntl locks are per process, and one close drops them all: not those)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def take(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n".encode(), 0)
        return True

    def release(self) -> None:
        try:
            os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)  # closing the file gives the lock back

    def close(self) -> None:
        os.close(self.fd)  # the holder's name in it stays

    def forget(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)  # the child's copy only: the lock is the parent's open file's

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""


class _NoLock(_Lock):
    """An in-memory SQLite database: no other process can reach it."""

    def take(self) -> bool:
        return True

    def release(self) -> None:
        pass


def _forget_in_child() -> None:
    _forgotten.extend(_open.values())
    for lock in _open.values():
        lock.forget()
    _open.clear()
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def lock_file(database: str) -> Path | None:
    """The lock file of a SQLite database (a path or a `file:` URI), or None for one in memory."""
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return path.with_name(path.name + LOCK_SUFFIX)


def _lock_for(engine: sa.Engine) -> _Lock:
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return _PostgresLock(engine)
    if dialect in ("mysql", "mariadb"):
        return _MariaDBLock(engine)
    if dialect == "sqlite":
        path = lock_file(engine.url.database or "")
        return _FileLock(path) if path is not None else _NoLock()
    return _NoLock()  # a database crmmigrate is not tested on: no lock it could trust


@contextmanager
def target_lock(engine: sa.Engine, *, wait: float = 0, waiting: Waiting | None = None) -> Iterator[None]:
    """Hold the target's lock while the block runs. When another run holds it: wait up to
    `wait` seconds for it (telling `waiting` once), then raise TargetBusy."""
    target = mask_url(engine.url)
    mine = id(engine)
    if _held.get(mine):
        _held[mine] += 1
        try:
            yield
        finally:
            _held[mine] -= 1
        return
    lock = _lock_for(engine)
    deadline = time.monotonic() + wait
    told = False
    while not lock.take():
        if time.monotonic() >= deadline:
            holder = lock.holder()
            lock.close()
            held_by = f" (its lock is held by {holder})" if holder else ""
            if wait:
                raise TargetBusy(f"{target}: another crmmigrate run was still writing to this target after "
                                 f"{wait:g} s of waiting; nothing was written{held_by}.",
                                 hint="Let it finish, then run again (or wait longer with --wait SECONDS).")
            raise TargetBusy(f"{target}: another crmmigrate run is writing to this target; nothing was "
                             f"written{held_by}.",
                             hint="Let it finish, then run again, or pass --wait SECONDS to wait for it.")
        if not told and waiting is not None:
            waiting(target, wait)
            told = True
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
    _held[mine] = 1
    _open[mine] = lock
    try:
        yield
    finally:
        _held.pop(mine, None)
        _open.pop(mine, None)
        lock.release()
