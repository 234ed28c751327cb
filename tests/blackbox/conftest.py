"""Fixtures of the black-box suite (helpers live in bb_support.py, a name
no other suite's conftest shadows when several suites run in one pytest)."""

import os

import pytest

from bb_support import FlintServer, flint_bin, run_aws, unique


@pytest.fixture(scope="session", autouse=True)
def _flint_binary():
    """Every test of this suite fails, saying why, when there is no flint to test (the
    other suites of the same pytest session still run)."""
    path = flint_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"flint server binary not found at {path!r}. Build it with "
            "`cargo build -p flint` (it lands in $CARGO_TARGET_DIR/debug/flint or "
            "target/debug/flint), or point FLINT_BIN at it.",
            pytrace=False,
        )


_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """When other suites run in the same pytest session after this one, the
    shared server does not linger while they run."""
    if nextitem is None or not str(nextitem.path).startswith(_HERE + os.sep):
        for s in _SHARED:
            s.kill()


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory of fresh servers (own data dir); all are stopped at teardown."""
    servers = []

    def make(start=True):
        root = tmp_path_factory.mktemp("flint")
        data = root / "data"
        data.mkdir()
        s = FlintServer(str(data), str(root / "server.log"))
        servers.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in servers:
        s.kill()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("flint-shared")
    data = root / "data"
    data.mkdir()
    s = FlintServer(str(data), str(root / "server.log"))
    s.start()
    _SHARED.append(s)
    yield s
    s.kill()


@pytest.fixture
def server(shared_server):
    """A server shared by the tests that only touch their own functions.
    A test during which it dies fails at teardown (with how it died), and
    the next test gets it restarted on the same data dir."""
    if not shared_server.alive():
        shared_server.start()
    yield shared_server
    if not shared_server.alive():
        rc = shared_server.proc.returncode
        with open(shared_server.log_path, "rb") as f:
            tail = f.read().decode(errors="replace")[-3000:]
        pytest.fail(f"the flint server died during this test (exit status {rc}); "
                    f"log tail:\n{tail}")


@pytest.fixture
def fresh(make_server):
    """A fresh, empty server of this test alone."""
    return make_server()


@pytest.fixture
def endpoint(server):
    return server.endpoint


@pytest.fixture
def lam(server):
    """boto3 Lambda client of the shared server."""
    return server.client()


@pytest.fixture
def raw_lam(server):
    """boto3 client that sends invalid values on to the server."""
    return server.client(validate=False)


@pytest.fixture
def aws(server):
    def run(*args, **kw):
        return run_aws(server.endpoint, *args, **kw)
    return run


@pytest.fixture
def name():
    return unique()
