"""The run catalog: an embedded Tiled catalog on SQLite, searched by metadata, read as xarray.

No server process: Tiled's ASGI app is served in-process through ``Context.from_app``. Runs are written by
bluesky-tiled-plugins' ``TiledWriter`` (start/stop documents as run metadata, event data as appendable
SQL tables). Opening is slow (seconds of imports), so ``Storage`` opens it on its worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labctl.storage.location import CATALOG_FILE, STORAGE_DIR, CatalogLocation

logger = logging.getLogger(__name__)

BATCH_ROWS = 10_000


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
    """A Tiled catalog of Bluesky runs, served in-process: ``catalog.db`` and ``catalog-storage/`` in
    *directory*, or the shared PostgreSQL catalog at *url* (see :mod:`labctl.storage.location`)."""

    def __init__(self, directory: Path, url: str | None = None):
        from tiled.client import from_context
        from tiled.client.context import Context
        from tiled.server.app import build_app

        self.directory = Path(directory)
        self.location = CatalogLocation.of(self.directory, url)
        self.location.claim()
        try:
            self.location.ensure_initialized()
            self._context = Context.from_app(build_app(self.location.adapter()))
        except BaseException:
            self.location.release()
            raise
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
        """Close the catalog's database connection (and let this process open it again)."""
        try:
            self._context.close()
        finally:
            self.location.release()


def metadata_key(key: str) -> str:
    """Search keys name start-document fields unless they say otherwise (``stop.``/``start.``)."""
    if key.startswith(("start.", "stop.")):
        return key
    if key == "exit_status":
        return "stop.exit_status"
    return "start." + key
