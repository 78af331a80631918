"""Storage of everything recorded: append-only JSON-lines files per run (the record of truth) and a Tiled
catalog on SQLite to search runs and load streams.

    store = Storage(data_dir("~/labctl-data")); store.subscribe(RE)
    store.runs({"electrolyte": "dme"}); store.run("3f2a").stream("primary")
"""

from .location import CatalogError
from .paths import data_dir
from .runs import RunSummary, StoredRun
from .store import Storage

__all__ = ["Storage", "StoredRun", "RunSummary", "CatalogError", "data_dir"]
