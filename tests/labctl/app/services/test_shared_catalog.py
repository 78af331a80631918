"""A lab that outgrows one PC: instrument PCs write their runs into one PostgreSQL catalog (a real server),
each keeping its own JSON-lines files, and one Tiled server shows every run of every PC."""

from __future__ import annotations

import itertools
import subprocess

import numpy as np
import pytest
from real_servers import CatalogServer, Process, free_port, labctl
from typer.testing import CliRunner

from labctl.app.cli import app
from labctl.profile import default_profile_path
from labctl.session import run_engine
from labctl.storage import CatalogError, Storage, StoredRun
from labctl.storage.catalog import TiledCatalog

_names = itertools.count()


def lab_profile(folder, catalog: str, extra: str = "") -> str:
    """The built-in simulated lab with its catalog at *catalog*."""
    text = default_profile_path().read_text(encoding="utf-8")
    text = text.replace("[lab]\n", f'[lab]\ncatalog = "{catalog}"\n', 1) + extra
    path = folder / f"lab-{next(_names)}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def catalog_url(postgres):
    return postgres.create_database(f"catalog_{next(_names)}")


def run_files(data_dir) -> dict[str, StoredRun]:
    return {p.stem: StoredRun(p) for p in sorted((data_dir / "runs").glob("*/*/*/*.jsonl"))}


def test_two_instrument_pcs_write_concurrently_and_the_server_shows_every_run(tmp_path, catalog_url):
    profile = lab_profile(tmp_path, catalog_url)
    plans = {
        "pc_a": ["galvanostatic_cycles", "-p", "pstat=vmp3_1", "-p", "cycles=2", "-p", "plate_time=10 min"],
        "pc_b": ["readings", "-p", "detectors=[ms, mfc]", "-p", "num=30", "-p", "period=20 s"],
    }
    procs = {}
    try:
        for pc, plan in plans.items():
            procs[pc] = Process(labctl("run", *plan, "-q", "--profile", profile, "--data-dir", str(tmp_path / pc),
                                       "--md", f"operator={pc}"), tmp_path / f"{pc}.log")
        for proc in procs.values():
            assert proc.proc.wait(300) == 0, proc.output()
    finally:
        for proc in procs.values():
            proc.stop()

    server = CatalogServer(tmp_path, "--profile", profile, "--data-dir", str(tmp_path / "server"))
    try:
        client = server.client()
        every = {pc: run_files(tmp_path / pc) for pc in plans}
        assert all(every.values())
        assert sorted(client) == sorted(uid for runs in every.values() for uid in runs)
        for pc, runs in every.items():
            for uid, stored in runs.items():
                node = client[uid]
                assert node.metadata["start"]["operator"] == pc
                assert node.metadata["start"]["plan_name"] == stored.start["plan_name"]
                assert node.metadata["stop"]["exit_status"] == "success"
                assert sorted(node) == sorted(stored.streams)
                for stream in stored.streams:
                    mine = stored.table(stream)
                    served = node[stream].base["internal"].read()
                    assert list(served["seq_num"]) == list(mine["seq_num"])
                    numeric = [k for k in mine.attrs["units"] if mine[k].dtype.kind in "fiu"]
                    assert numeric
                    for key in numeric:
                        np.testing.assert_allclose(served[key].to_numpy(dtype=float), mine[key].to_numpy(dtype=float),
                                                   err_msg=f"{pc} {uid[:8]} {stream}.{key}")
    finally:
        server.stop()


def _record(store: Storage, n: int, **md) -> list[str]:
    import bluesky.plans as bp
    from ophyd.sim import det

    engine = run_engine()
    store.subscribe(engine)
    return [engine(bp.count([det], 2, md=md))[0] for _ in range(n)]


def test_each_pc_lists_and_rebuilds_only_its_own_runs(tmp_path, catalog_url):
    with Storage(tmp_path / "pc_a", catalog=catalog_url) as a:
        mine = _record(a, 2, sample="NaCu-07")  # scan ids 1 and 2
    with Storage(tmp_path / "pc_b", catalog=catalog_url) as b:
        theirs = _record(b, 1, sample="NaCu-07")  # scan id 1 on the other PC
        b.sync()
        assert sorted(b.catalog.uids()) == sorted(mine + theirs)  # one catalog
        assert [s.uid for s in b.runs("NaCu-07")] == theirs  # a PC lists the runs it holds
        assert b.run(1).uid == theirs[0]
    with Storage(tmp_path / "pc_a", catalog=catalog_url) as a:
        assert sorted(s.uid for s in a.runs()) == sorted(mine) and a.run(1).uid == mine[0]
        assert a.rebuild_catalog() == 2
        assert sorted(a.catalog.uids()) == sorted(mine + theirs)  # the other PC's run is still there
        assert sorted(s.uid for s in a.runs()) == sorted(mine)
        with pytest.raises(CatalogError, match="already open in this process"):
            TiledCatalog(tmp_path / "pc_c", url=catalog_url)  # instead of waiting forever on the first one


def test_a_bad_catalog_url_is_one_line_before_any_instrument_connects(tmp_path, postgres):
    # A reachable server with no such database, and a port nothing listens on; the lab's one instrument would
    # fail to connect too (nothing listens at its address), so the message shows which was tried first.
    instrument = ('\n[instruments.mfc]\nkind = "flow_controller"\ndriver = "bronkhorst.propar"\n'
                  'transport = "socket://127.0.0.1:9"\n')
    closed = f"postgresql://labctl:secret@127.0.0.1:{free_port()}/labctl"
    for url, words in ((postgres.url("no_such_catalog"), 'database "no_such_catalog" does not exist'),
                       (closed, "cannot reach the catalog postgresql://labctl:***@127.0.0.1")):
        profile = tmp_path / f"bad-{next(_names)}.toml"
        profile.write_text(f'[lab]\nname = "bench"\ncatalog = "{url}"\n{instrument}', encoding="utf-8")
        out = subprocess.run(labctl("run", "readings", "-q", "--profile", str(profile), "--data-dir",
                                    str(tmp_path / "data")), capture_output=True, text=True, timeout=120)
        assert out.returncode == 1
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot reach the catalog"), out.stderr
        assert words in lines[0] and "mfc" not in lines[0] and "secret" not in lines[0]


@pytest.mark.parametrize("url, words", [
    ("mysql://labctl@db/labctl", "is not a PostgreSQL URL"),
    ("postgresql://labctl@db:port/labctl", "the port is not a number"),
    ("postgresql://labctl@db:5432", "names no database"),
])
def test_a_catalog_url_that_is_no_postgresql_url_is_refused_with_the_profile(tmp_path, url, words):
    profile = tmp_path / "lab.toml"
    profile.write_text(f'[lab]\nname = "bench"\ncatalog = "{url}"\n\n[instruments.clock]\nkind = "clock"\n'
                       'driver = "lab.clock"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["profile", "check", str(profile)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {profile}: lab.catalog: ") and words in line


def test_the_catalog_password_can_come_from_the_environment(tmp_path, monkeypatch):
    from labctl.profile import load_profile

    monkeypatch.setenv("LAB_DB_PASSWORD", "s3cret")
    profile = tmp_path / "lab.toml"
    profile.write_text('[lab]\nname = "bench"\ncatalog = "postgresql://labctl:${LAB_DB_PASSWORD}@db:5432/labctl"\n'
                       '\n[instruments.clock]\nkind = "clock"\ndriver = "lab.clock"\n', encoding="utf-8")
    assert load_profile(profile).lab["catalog"] == "postgresql://labctl:s3cret@db:5432/labctl"


def test_the_catalog_is_checked_from_code_that_runs_an_event_loop(tmp_path, postgres, catalog_url):
    import asyncio

    from labctl.storage.location import CatalogLocation

    async def in_a_notebook():  # Jupyter runs an event loop in the thread that opens the session
        CatalogLocation.of(tmp_path, catalog_url).check_reachable()
        with pytest.raises(CatalogError, match='database "elsewhere" does not exist'):
            CatalogLocation.of(tmp_path, postgres.url("elsewhere")).check_reachable()

    asyncio.run(in_a_notebook())


class _OtherWriter:
    """Another PC midway through creating Tiled's first event table on a fresh database: its transaction has
    created the event tables' index name (``dataset_and_partition_index``) and not committed yet. A session
    creating its first event table then waits on it, and fails with a unique violation (SQLSTATE 23505) at
    ``commit()``, exactly as when two PCs create their first tables at the same instant."""

    def __init__(self, url: str):
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._conn = self._do(self._open(url))

    def _do(self, coroutine):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    async def _open(self, url):
        import asyncpg

        conn = await asyncpg.connect(url)
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE other_pc (x integer)")
        await conn.execute("CREATE INDEX dataset_and_partition_index ON other_pc (x)")
        return conn

    def waited_on(self) -> bool:
        """Whether another connection waits for this transaction."""
        return self._do(self._conn.fetchval(
            "SELECT pg_stat_clear_snapshot(), count(*) > 0 FROM pg_stat_activity "  # fresh, not the transaction's
            "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()", column=1))

    def commit(self) -> None:
        self._do(self._conn.execute("COMMIT"))

    def close(self) -> None:
        self._do(self._conn.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.mark.parametrize("attempt", range(3))
def test_a_run_that_loses_the_table_creation_race_still_reaches_the_catalog_whole(tmp_path, postgres, caplog,
                                                                                   attempt):
    import logging
    import time

    import bluesky.plans as bp
    from ophyd.sim import det

    url = postgres.create_database(f"race_{next(_names)}")
    caplog.set_level(logging.WARNING, logger="labctl.storage.feeder")
    with Storage(tmp_path / "pc", catalog=url) as store:
        _ = store.catalog  # open, the catalog's own tables created
        other = _OtherWriter(url)
        try:
            engine = run_engine()
            store.subscribe(engine)
            (uid,) = engine(bp.count([det], 3, md={"operator": "pc"}))
            deadline = time.monotonic() + 120
            while not other.waited_on():  # the session creates its first event table...
                assert time.monotonic() < deadline, "the session never created its event table"
                time.sleep(0.05)
            other.commit()  # ... and loses the race
        finally:
            other.close()
        assert store.sync(timeout=120)
        entry = store.catalog.metadata(uid)
        assert entry["start"]["operator"] == "pc" and entry["stop"]["exit_status"] == "success"
        assert store.catalog.read_table(uid, "primary")["seq_num"].tolist() == [1, 2, 3]
        assert store.catalog.uids() == [uid]
        assert not (tmp_path / "pc" / "runs" / ".open" / uid).exists()  # known to be whole in the catalog
        assert any("duplicate key" in r.getMessage() for r in caplog.records)  # though the race was lost
