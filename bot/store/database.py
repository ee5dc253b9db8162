"""The backend seam: what the purpose modules (generations, ledger, moderation) need from a
database, and nothing more. bot/store/sqlite.py implements it; a second backend (PostgreSQL)
implements it again, and the purpose modules and the rules above them stay as they are.

What a backend provides:

- statements with `?` placeholders (a backend whose driver numbers them, like asyncpg's `$1`,
  rewrites them), run one at a time on the database (each its own transaction) or together in
  `transaction()`; rows readable by position and by column name;
- the few fragments of SQL that differ between databases (`Dialect`): everything else the purpose
  modules write is portable (`ON CONFLICT`, `RETURNING`, row values, `COALESCE`, `CASE`);
- claims (bot/store/work.py): a row is taken for work by one process, with a lease; `skip_locked`
  lets processes claiming at the same moment pass over each other's rows instead of waiting;
- `lock(names)` inside a transaction: the rules' read-then-write steps (an admission checks a
  member's limits, then reserves) name what they must have to themselves; a backend whose
  transactions already run one at a time (SQLite) has nothing to do, one whose transactions run
  side by side (PostgreSQL) makes the transactions that name the same lock wait for each other;
- its own migrations, schema version and checks (bot/store/sqlite.py: SQL files, `PRAGMA
  user_version`; bot/store/postgres.py: SQL files, a `schema_version` table).

Money is REAL (a float in Python) in SQLite and exact `numeric` in PostgreSQL, whose backend reads
it back as floats: the rules see floats either way.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Clock = Callable[[], float]

DEFAULT_LEASE = 30.0  # seconds a claim on a row lasts unless its process renews it
AFFINITY_GRACE = 2.0  # a row another live process keeps is left to it until this long past due


@dataclass(frozen=True)
class Claimant:
    """The process that claims rows for work (bot/store/work.py): its name, unique to this run
    of this process, and how long its claims last. `grace`: how long past its due time a row
    that another process worked on last is still left to that process (its schedule, its
    interactions), before any process takes it."""

    name: str
    lease: float = DEFAULT_LEASE
    grace: float = AFFINITY_GRACE

    @classmethod
    def new(cls, lease: float = DEFAULT_LEASE) -> Claimant:
        """A name no other process, on this host or another, has now or had before."""
        host = socket.gethostname()[:40] or "host"
        return cls(f"{host}:{os.getpid()}:{secrets.token_hex(4)}", lease)


def read_migrations(folder: Path) -> tuple[str, ...]:
    """The SQL of each schema version, in order: `0001_*.sql` moves a new database to version 1,
    and so on. A file is never edited once it has shipped; a change is a new file."""
    files = sorted(folder.glob("*.sql"))
    numbers = [int(path.name.split("_", 1)[0]) for path in files]
    if numbers != list(range(1, len(files) + 1)):
        raise RuntimeError(f"the migrations in {folder} are not numbered 1 to {len(files)}")
    return tuple(path.read_text(encoding="utf-8") for path in files)


class DatabaseTooNew(Exception):
    """The database was moved forward by a newer version of the bot: migrations only go forward,
    so this version must not touch it."""

    def __init__(self, version: int, known: int) -> None:
        self.version = version
        self.known = known
        super().__init__(
            f"its schema is version {version}, made by a newer version of the bot; this version "
            f"knows versions up to {known}"
        )


class DatabaseUnwritable(Exception):
    """The database cannot be written now (the backend's own error, in its words)."""


class Row(Protocol):
    """One result row: by position (`row[0]`) or by column name (`row["status"]`)."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class Dialect(Protocol):
    """The fragments of SQL a backend writes its own way. Each returns text to put into a
    statement; where a fragment takes a value, it returns the parameters to pass along with it,
    at the fragment's place among the statement's `?`."""

    def in_list(self, column: str, values: Collection[int]) -> tuple[str, tuple[Any, ...]]:
        """`column` is one of `values` (any number of them, with one parameter)."""
        ...

    def not_in_list(self, column: str, values: Collection[int]) -> tuple[str, tuple[Any, ...]]:
        """`column` is none of `values` (any number of them, with one parameter)."""
        ...

    def greater(self, a: str, b: str) -> str:
        """The larger of two values of one row (SQLite's scalar MAX; GREATEST elsewhere)."""
        ...

    def lesser(self, a: str, b: str) -> str:
        """The smaller of two values of one row (SQLite's scalar MIN; LEAST elsewhere)."""
        ...

    def null_safe_equal(self, column: str) -> str:
        """`column` equals the next `?`, NULL matching NULL (IS; IS NOT DISTINCT FROM)."""
        ...

    def contains(self, text: str) -> str:
        """`text` contains the next `?` as a substring, exactly (instr; strpos)."""
        ...

    def use_index(self, index: str) -> str:
        """A hint that a read walks `index` (SQLite plans without statistics, as the bot never
        runs ANALYZE); empty where the planner needs none."""
        ...

    def floor(self, value: str) -> str:
        """The largest whole number not above `value`, a number that is never negative."""
        ...

    def skip_locked(self) -> str:
        """Ends a SELECT whose rows are about to be claimed: rows another transaction is
        claiming right now are passed over, not waited for (FOR UPDATE SKIP LOCKED); empty
        where one write runs at a time anyway (SQLite)."""
        ...

    def now_seconds(self) -> str:
        """The database server's clock, in seconds since the epoch (one clock for every
        process, whatever their hosts' clocks say)."""
        ...


class Executor(Protocol):
    """Runs statements: the database itself (each statement commits alone) or one transaction."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetchone(self, sql: str, *params: Any) -> Row | None: ...

    async def fetchall(self, sql: str, *params: Any) -> list[Row]: ...

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows, in a single call to the database."""
        ...

    def atomic(self) -> AbstractAsyncContextManager[Executor]:
        """Statements that commit together: a new transaction on the database, or the
        transaction already open (nothing nests)."""
        ...

    async def lock(self, *names: str) -> None:
        """In a transaction: wait until no other transaction holds any of the locks `names`,
        then hold them until this one ends. All of a transaction's locks are named in one call
        (they are taken in one order, so two transactions never wait for each other). Outside
        a transaction: RuntimeError."""
        ...


class Database(Executor, Protocol):
    """A backend: the database the bot keeps everything in.

    `shared`: several bot processes may use it at once (PostgreSQL). SQLite's file belongs to
    one process: what another process claimed there was claimed by an earlier run of the bot."""

    shared: bool

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Statements that commit together or not at all, never interleaved with another
        coroutine's statements. Two admissions checking the same limits run one after the
        other: SQLite's transactions take the write lock at once; where transactions run side
        by side, the admission names its locks (`lock`)."""
        ...

    async def schema_version(self) -> int: ...

    async def check_writable(self) -> None:
        """Raise DatabaseUnwritable if the database cannot be written now (take and release
        the write lock); a wait for the lock is the caller's to bound."""
        ...

    async def close(self) -> None: ...
