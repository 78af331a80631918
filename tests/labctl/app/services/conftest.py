"""Servers shared by every service test of the session: one PostgreSQL cluster, one Redis, started once
and stopped at the end (each test makes its own database or data directory)."""

from __future__ import annotations

import pytest
from real_servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
