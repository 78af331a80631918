"""Real server processes for the service tests: PostgreSQL, Redis and labctl's own servers, each on a free
loopback port in a temporary folder, stopped at the end.

A server program that is not installed skips its tests on a developer's machine (with the command that
installs it) and fails them in CI (``$CI`` set), where `.ci/run` installs everything.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

HOST = "127.0.0.1"
START_TIMEOUT_S = 120.0  # a loaded 2-core machine importing tiled in several processes at once


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def missing(program: str, install: str):
    """Skip (or, in CI, fail) because *program* is not installed."""
    message = f"{program} is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must install it (.ci/run)")
    pytest.skip(message)


def wait_for(check: Callable[[], object], what: str, timeout: float = START_TIMEOUT_S,
             alive: Callable[[], str | None] | None = None):
    """Poll *check* until it returns something true; fail naming *what* (and why, from *alive*) if not."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if alive is not None:
            died = alive()
            if died:
                pytest.fail(f"{what}: {died}")
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready after {timeout:.0f} s ({last!r})")


class Process:
    """A server started in its own process group, output to a log file; ``stop()`` ends the whole group."""

    def __init__(self, argv: list[str], log: Path, *, env: dict | None = None, **popen):
        self.argv, self.log = argv, Path(log)
        self._out = open(self.log, "wb")
        extra = {"start_new_session": True} if os.name == "posix" else {}
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})}, **extra, **popen)

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def died(self) -> str | None:
        if self.proc.poll() is None:
            return None
        return f"exited with {self.proc.returncode}:\n{self.output()[-3000:]}"

    def stop(self, grace: float = 30.0) -> int | None:
        """Ctrl-C to the group, then kill it if it has not ended after *grace* seconds."""
        if self.proc.poll() is None:
            self._signal(signal.SIGINT)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
                self.proc.wait(10)
        if os.name == "posix":  # children left in the group (a queue server's worker) go with it
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._out.close()
        return self.proc.returncode

    def _signal(self, sig) -> None:
        try:
            if os.name == "posix":
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass


def labctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "labctl.app.cli", *args]


# -- PostgreSQL ---------------------------------------------------------------------------------------------

def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def _unprivileged() -> dict:
    """PostgreSQL refuses to run as root: as root, run its programs as ``nobody``."""
    if getattr(os, "geteuid", lambda: 1)() != 0:
        return {}
    import pwd

    pw = pwd.getpwnam("nobody")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


class PostgresServer:
    """A throwaway PostgreSQL cluster (trust authentication on loopback, no fsync): ``url(database)``."""

    USER = "labctl"

    def __init__(self):
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and pg_ctl):
            missing("PostgreSQL (initdb, pg_ctl)", "apt-get install postgresql")
        self.pg_ctl = pg_ctl
        self.as_user = _unprivileged()
        self.root = Path(tempfile.mkdtemp(prefix="labctl-pg-"))
        if self.as_user:
            os.chown(self.root, self.as_user["user"], self.as_user["group"])
        self.data = self.root / "data"
        self.port = free_port()
        self._run([initdb, "-D", str(self.data), "-U", self.USER, "--auth=trust", "-E", "UTF8", "--no-sync"])
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = ''\n"
                       "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\nmax_connections = 200\n")
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"])

    def _run(self, argv: list[str]) -> None:
        out = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, timeout=120, **self.as_user)
        if out.returncode:
            log = self.root / "server.log"
            pytest.fail(f"{' '.join(argv[:2])} failed: {out.stderr or out.stdout}"
                        f"{log.read_text() if log.exists() else ''}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.USER}@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import asyncpg

        async def create():
            conn = await asyncpg.connect(self.url())
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True,
                       cwd=self.root, timeout=60, **self.as_user)
        shutil.rmtree(self.root, ignore_errors=True)


# -- Redis --------------------------------------------------------------------------------------------------

class RedisServer:
    """A Redis server without persistence: ``address`` is ``host:port``."""

    def __init__(self, folder: Path):
        program = shutil.which("redis-server")
        if program is None:
            missing("redis-server", "apt-get install redis-server, or `make servers`")
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.process = Process([program, "--bind", HOST, "--port", str(self.port), "--save", "", "--appendonly",
                                "no", "--dir", str(folder)], folder / "redis.log")
        wait_for(self.ping, "redis-server", alive=self.process.died)

    def ping(self) -> bool:
        import redis

        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def stop(self) -> None:
        self.process.stop()


# -- labctl's catalog server --------------------------------------------------------------------------------

class CatalogServer:
    """``labctl catalog serve`` on a free port; ``key`` is the one it was given or the one it printed."""

    def __init__(self, folder: Path, *args: str, key: str | None = None):
        import re

        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = {"PYTHONUNBUFFERED": "1"}
        if key is not None:
            env["LABCTL_API_KEY"] = key
        else:
            env["LABCTL_API_KEY"] = ""  # unset for the server: it makes its own key
        self.process = Process(labctl("catalog", "serve", "--port", str(self.port), *args),
                               Path(folder) / f"catalog-server-{self.port}.log", env=env)
        announced = wait_for(lambda: re.search(r"serving the catalog .*\((API key[^)]*)\)", self.process.output()),
                             "labctl catalog serve", alive=self.process.died)
        printed = re.fullmatch(r"API key: ([0-9a-f]+)", announced.group(1))
        self.key = key if key is not None else (printed.group(1) if printed else None)
        wait_for(lambda: self.get("/api/v1/search/").status_code in (200, 401), "labctl catalog serve (HTTP)",
                 alive=self.process.died)

    def get(self, path: str, key: str | None = None):
        import httpx

        headers = {"Authorization": f"Apikey {key}"} if key else {}
        return httpx.get(self.url + path, headers=headers, timeout=30)

    def client(self):
        from tiled.client import from_uri

        return from_uri(self.url, api_key=self.key)

    def stop(self) -> None:
        self.process.stop()
