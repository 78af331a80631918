"""Storage of everything recorded: append-only JSON-lines files per run (the record of truth) and a Tiled
catalog on SQLite to search runs and load streams.

    store = Storage(data_dir("~/labctl-data")); store.subscribe(RE)
    store.runs({"electrolyte": "dme"}); store.run("3f2a").stream("primary")
"""

from labctl.storage.location import CatalogError
from labctl.storage.paths import data_dir
from labctl.storage.runs import RunSummary, StoredRun
from labctl.storage.store import Storage

__all__ = ["Storage", "StoredRun", "RunSummary", "CatalogError", "data_dir"]
