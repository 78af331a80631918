"""The catalog as people at a Bluesky prompt know it: ``catalog[-1]`` (the newest run), ``catalog[42]`` (scan id
42), ``catalog["3f2a9c"]`` (a uid prefix), ``catalog.search(Key("start.sample") == "NaCu-07")``.

That is bluesky-tiled-plugins' ``CatalogOfBlueskyRuns`` over the session's catalog. The catalog's root holds the
runs directly and carries no ``CatalogOfBlueskyRuns`` spec, so the client is told what it is looking at (SQL
storage, which makes uid prefixes a ``LIKE`` query rather than a query this server does not know). Every look-up
first waits for what has been recorded to be indexed, so the run that just ended is ``catalog[-1]``.
"""

from __future__ import annotations

from bluesky_tiled_plugins.clients.catalog_of_bluesky_runs import CatalogOfBlueskyRuns

SPEC = {"name": "CatalogOfBlueskyRuns", "version": "3.0"}
SYNC_TIMEOUT = 60.0


def browse(storage) -> CatalogOfBlueskyRuns:
    """The runs of *storage*'s catalog, newest last, up to date at every look-up."""
    client = storage.catalog.client

    class Catalog(CatalogOfBlueskyRuns):
        """bluesky-tiled-plugins' catalog of runs, brought up to date before it is read."""

        def _fresh(self):
            storage.sync(SYNC_TIMEOUT)
            return self

        def __getitem__(self, key):
            """A run by ``-n`` (n-th newest), scan id, uid or uid prefix (see bluesky-tiled-plugins)."""
            return CatalogOfBlueskyRuns.__getitem__(self._fresh(), key)

        def __len__(self) -> int:
            return CatalogOfBlueskyRuns.__len__(self._fresh())

        def __repr__(self) -> str:
            return CatalogOfBlueskyRuns.__repr__(self._fresh())

        def search(self, query):
            """The runs matching *query* (``tiled.queries``: ``Key("start.sample") == "x"``, ``FullText``)."""
            return CatalogOfBlueskyRuns.search(self._fresh(), query)

    Catalog.__name__ = "CatalogOfBlueskyRuns"
    attributes = {**client.item["attributes"], "specs": [SPEC]}
    return Catalog(client.context, item={**client.item, "attributes": attributes},
                   structure_clients=client.structure_clients)
