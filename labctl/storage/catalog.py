"""The run catalog: an embedded Tiled catalog on SQLite, searched by metadata, read as xarray.

No server process: Tiled's ASGI app is served in-process through ``Context.from_app``. Runs are written by
bluesky-tiled-plugins' ``TiledWriter`` (start/stop documents as run metadata, event data as appendable
SQL tables). Opening is slow (seconds of imports), so ``Storage`` opens it on its worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CATALOG_FILE = "catalog.db"
STORAGE_DIR = "catalog-storage"  # event tables (SQLite) and any arrays (zarr) written by the catalog
TABLES_FILE = "tables.sqlite"
BATCH_ROWS = 10_000


def _sqlite_uri(path: Path) -> str:
    return "sqlite:///" + path.resolve().as_posix()


def _initialize(db: Path) -> None:
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


def remove_catalog(directory: Path) -> None:
    """Delete the catalog in *directory* (database and tables); the run files are untouched."""
    import shutil

    directory = Path(directory)
    for tmp in directory.glob(CATALOG_FILE + ".*.tmp"):
        tmp.unlink(missing_ok=True)
    (directory / CATALOG_FILE).unlink(missing_ok=True)
    if (directory / STORAGE_DIR).exists():
        shutil.rmtree(directory / STORAGE_DIR)


class TiledCatalog:
    """An embedded Tiled catalog of Bluesky runs: ``catalog.db`` and ``catalog-storage/`` in *directory*."""

    def __init__(self, directory: Path):
        from tiled.catalog import from_uri
        from tiled.client import from_context
        from tiled.client.context import Context
        from tiled.server.app import build_app

        self.directory = Path(directory)
        storage = self.directory / STORAGE_DIR
        (storage / "data").mkdir(parents=True, exist_ok=True)
        db = self.directory / CATALOG_FILE
        if not db.exists():
            _initialize(db)
        adapter = from_uri(
            _sqlite_uri(db),
            writable_storage=[storage / "data", _sqlite_uri(storage / TABLES_FILE)],
        )
        self._context = Context.from_app(build_app(adapter))
        self.client = from_context(self._context)

    # -- writing -------------------------------------------------------------------------------------

    def writer(self):
        """A fresh Bluesky callback writing runs into this catalog.

        The documents are ours and current (event-model 1.x), so the schema normalizer is skipped: it
        validates every event one by one and would cap ingestion at a few thousand rows per second.
        """
        from bluesky_tiled_plugins.writing.tiled_writer import TiledWriter

        return TiledWriter(self.client, normalizer=None, batch_size=BATCH_ROWS)

    def delete(self, uids: Iterable[str] | None = None) -> None:
        """Remove runs (all of them by default) with their tables."""
        keys = list(self.client) if uids is None else [u for u in uids if u in self.client]
        if keys:
            self.client.delete_contents(keys, recursive=True, external_only=False)

    # -- reading -------------------------------------------------------------------------------------

    def search(self, search: str | dict | None = None, limit: int | None = None) -> list[dict]:
        """Metadata (``{"start": ..., "stop": ...}``) of matching runs, newest first."""
        from tiled.queries import FullText, Key

        node = self.client
        if isinstance(search, str) and search.strip():
            phrase = '"' + search.strip().replace('"', '""') + '"'
            node = node.search(FullText(phrase))
        elif isinstance(search, dict):
            for key, value in search.items():
                node = node.search(Key(metadata_key(key)) == value)
        node = node.sort(("start.time", -1))
        out = []
        for _, item in node.items():
            out.append(dict(item.metadata))
            if limit is not None and len(out) >= limit:
                break
        return out

    def metadata(self, uid: str) -> dict[str, Any]:
        """The catalog entry's metadata (start and stop documents) of run *uid*."""
        return dict(self.client[uid].metadata)

    def uids(self) -> list[str]:
        """Every run uid in the catalog."""
        return list(self.client)

    def streams(self, uid: str) -> list[str]:
        """The stream names of run *uid*."""
        return list(self.client[uid])

    def read_stream(self, uid: str, name: str):
        """A stream as an ``xarray.Dataset`` as Tiled serves it (indexed by ``time``)."""
        return self.client[uid][name].read()

    def read_table(self, uid: str, name: str):
        """A stream's event table (``seq_num``, ``time``, data keys, ``ts_`` timestamps) as pandas."""
        return self.client[uid][name].base["internal"].read()

    def close(self) -> None:
        """Close the catalog's database connection."""
        self._context.close()


def metadata_key(key: str) -> str:
    """Search keys name start-document fields unless they say otherwise (``stop.``/``start.``)."""
    if key.startswith(("start.", "stop.")):
        return key
    if key == "exit_status":
        return "stop.exit_status"
    return "start." + key
