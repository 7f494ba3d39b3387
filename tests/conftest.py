"""Shared fixtures: spawned servers (emberkv and the real Redis oracle) and an in-process server."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.inproc import InProcessServer
from tests.servers import FIXTURES, REDIS_SERVER, start_emberkv, start_redis

# The suite shares two cores with the servers it starts: an example's running time says nothing about
# correctness here, so no per-example deadline and no complaint about slow data generation.
settings.register_profile("emberkv", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("emberkv")


@pytest.fixture
def srv():
    """An in-process server (real dispatcher, no sockets): ``srv.client()("SET", "k", "v")``."""
    server = InProcessServer()
    yield server
    server.close()


@pytest.fixture
def c(srv):
    """A client of the in-process server, with a string at "str" (for WRONGTYPE checks)."""
    client = srv.client()
    client("SET", "str", "v")
    return client


@pytest.fixture
def effects(srv):
    """Every argv the in-process server propagates (to the AOF and replicas), in order."""
    seen: list[list[bytes]] = []
    srv.server.effect_feeds.append(lambda batch, multi: seen.extend(argv for _, argv in batch))
    return seen


@pytest.fixture
def emberkv(tmp_path):
    """A running emberkv-server on a free port (default options, no save points)."""
    server = start_emberkv(tmp_path / "emberkv")
    yield server
    server.stop()


@pytest.fixture
def emberkv_factory(tmp_path):
    """Start emberkv-servers with extra options: ``emberkv_factory("--appendonly", "yes")``."""
    started = []

    def start(*extra: str, name: str = "emberkv"):
        server = start_emberkv(tmp_path / f"{name}{len(started)}", *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_oracle(tmp_path):
    """A running real redis-server 7.0; the test is skipped when it is not installed."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: differential/interop tests need it (CI installs it)")
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def redis_factory(tmp_path):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: interop tests need it (CI installs it)")
    started = []

    def start(*extra: str):
        server = start_redis(tmp_path / f"redis{len(started)}", *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def fixtures_dir():
    """../shared/fixtures (Redis-written files); skipped with a reason when it is not there."""
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} not found: the shared Redis fixtures are needed for golden tests")
    return FIXTURES
