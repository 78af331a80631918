"""Where the run catalog lives: the embedded SQLite catalog of one data directory (the default), or a
PostgreSQL database shared by every instrument PC of a lab (``catalog = "postgresql://..."`` in the
profile's ``[lab]`` table).

Sessions (writing) and ``labctl catalog serve`` (reading) open the catalog from the same description, so
the server sees exactly the runs and event tables the sessions write. The JSON-lines files stay on each
PC as the record of truth; the catalog is only the index.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

CATALOG_FILE = "catalog.db"
STORAGE_DIR = "catalog-storage"  # event tables (SQLite) and any arrays (zarr) written by the catalog
TABLES_FILE = "tables.sqlite"
SCHEMES = ("postgresql", "postgresql+asyncpg")
CONNECT_TIMEOUT_S = 10.0
_INIT_LOCK = 0x6C616263  # PostgreSQL advisory lock held while a catalog database is created ("labc")


class CatalogError(RuntimeError):
    """The catalog cannot be used; the message is one line naming it (password hidden)."""


# Tiled keeps one database engine per URL and process, and asyncpg ties its connections to the event loop
# of the first catalog that opened it: a second catalog open at once on the same PostgreSQL URL in the same
# process would wait forever on the first one's loop. One at a time, then; refused with a clear message.
_open_shared: set[str] = set()
_open_lock = threading.Lock()


def check_url(url: object) -> str | None:
    """Why *url* cannot name a shared catalog, in a few words, or None if it can."""
    if not isinstance(url, str) or not url.strip():
        return f"expected a PostgreSQL URL (postgresql://user:password@host:5432/database), got {url!r}"
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return (f"{redact(url)!r} is not a PostgreSQL URL; expected postgresql://user:password@host:5432/database "
                "(leave catalog out for the data directory's own catalog)")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return f"{redact(url)!r}: the port is not a number"
    if not parts.hostname:
        return f"{redact(url)!r} names no host"
    if not parts.path.strip("/"):
        return f"{redact(url)!r} names no database (.../database at the end)"
    return None


def redact(url: str) -> str:
    """*url* with its password replaced by ``***``, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))


def _sqlite_uri(path: Path) -> str:
    return "sqlite:///" + path.resolve().as_posix()


@dataclass(frozen=True)
class CatalogLocation:
    """A catalog database, where its event tables go and where arrays go (always this PC's folder)."""

    database: str
    tables: str
    files: Path
    shared: bool

    @classmethod
    def of(cls, directory: str | Path, url: str | None = None) -> CatalogLocation:
        """The catalog of data directory *directory*, or the shared one at *url*."""
        directory = Path(directory)
        storage = directory / STORAGE_DIR
        if url is None:
            return cls(_sqlite_uri(directory / CATALOG_FILE), _sqlite_uri(storage / TABLES_FILE), storage / "data",
                       shared=False)
        reason = check_url(url)
        if reason:
            raise CatalogError(f"catalog: {reason}")
        plain = urlunsplit(urlsplit(url)._replace(scheme="postgresql"))  # the table store speaks plain postgresql
        return cls(plain, plain, storage / "data", shared=True)

    def __str__(self) -> str:
        return redact(self.database) if self.shared else str(Path(self.database.removeprefix("sqlite:///")))

    # -- checking and creating ---------------------------------------------------------------------------

    def check_reachable(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Connect once to a shared catalog's server, so a wrong host, password or database name is one line
        before anything else starts. (A local catalog is created on first use.)"""
        if not self.shared:
            return
        import asyncpg

        async def probe() -> None:
            conn = await asyncpg.connect(self.database, timeout=timeout)
            await conn.close()

        try:
            _run(lambda: asyncio.wait_for(probe(), timeout + 1))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise CatalogError(f"cannot reach the catalog {self}: {_reason(exc)}") from None

    def ensure_initialized(self) -> None:
        """Create the catalog's tables if the database is new. Several PCs may start at once against a new
        shared database: PostgreSQL's advisory lock lets one of them create it."""
        self.files.mkdir(parents=True, exist_ok=True)
        if self.shared:
            _run(lambda: _initialize_postgres(self.database))
        else:
            db = Path(self.database.removeprefix("sqlite:///"))
            if not db.exists():
                _initialize_sqlite(db)

    def claim(self) -> None:
        """Mark a shared catalog open in this process (see ``_open_shared``); :meth:`release` when closed."""
        if not self.shared:
            return
        with _open_lock:
            if self.database in _open_shared:
                raise CatalogError(f"the catalog {self} is already open in this process; close it first")
            _open_shared.add(self.database)

    def release(self) -> None:
        """Mark the catalog closed in this process."""
        with _open_lock:
            _open_shared.discard(self.database)

    def adapter(self, *, writable: bool = True):
        """Tiled's adapter over this catalog (the tree a Tiled app serves); read-only for a server that only
        shows what the sessions write."""
        from tiled.catalog import from_uri

        storage = [self.files, self.tables]
        if writable:
            return from_uri(self.database, writable_storage=storage)
        return from_uri(self.database, readable_storage=storage)


def _run(make_coroutine):
    """Run a coroutine to completion from synchronous code, also where an event loop already runs in this
    thread (a notebook): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    text = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    return text


def _initialize_sqlite(db: Path) -> None:
    """Create an empty catalog database at *db*, atomically.

    Tiled's ``init_if_not_exists`` runs a whole interpreter to do this; doing it in-process is an order of
    magnitude faster. It is built under a temporary name and renamed, so a process killed midway never
    leaves a half-initialised catalog behind.
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from tiled.alembic_utils import stamp_head
    from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.catalog.core import initialize_database
    from tiled.utils import ensure_specified_sql_driver

    tmp = db.with_name(db.name + f".{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    uri = ensure_specified_sql_driver(_sqlite_uri(tmp))

    async def create() -> None:
        engine = create_async_engine(uri)
        try:
            await initialize_database(engine)
        finally:
            await engine.dispose()

    asyncio.run(create())
    stamp_head(ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, uri)
    os.replace(tmp, db)


async def _initialize_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from tiled.alembic_utils import UninitializedDatabase, check_database, stamp_head
    from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.catalog.core import ALL_REVISIONS, REQUIRED_REVISION, initialize_database
    from tiled.utils import ensure_specified_sql_driver

    uri = ensure_specified_sql_driver(url)
    engine = create_async_engine(uri)
    try:
        async with engine.connect() as lock:
            await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _INIT_LOCK})
            try:
                try:
                    await check_database(engine, REQUIRED_REVISION, ALL_REVISIONS)
                except UninitializedDatabase:
                    await initialize_database(engine)
                    # alembic runs its own event loop: give it a thread without one
                    await asyncio.to_thread(stamp_head, ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, uri)
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _INIT_LOCK})
    finally:
        await engine.dispose()
