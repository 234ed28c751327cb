"""Fixtures of the Invoke suite: a real `flint serve` (root, sandboxed
environments), a boto3 client with long read timeouts and no retries, and
per-test functions. Helpers live in invoke_support.py.
"""

import os

import pytest

from .invoke_support import (PY_ECHO, create_function, finish_server, flint_bin, new_server,
                            unique)


def pytest_sessionstart(session):
    path = flint_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.exit(
            f"flint binary not found at {path!r}: build it with `cargo build -p flint` "
            "or set FLINT_BIN",
            returncode=4,
        )
    if os.geteuid() != 0:
        pytest.exit("the Invoke suite must run as root (flint sandboxes functions)", returncode=4)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The server shared by the suite (each test uses its own functions)."""
    s = new_server(tmp_path_factory)
    yield s
    finish_server(s)


@pytest.fixture(autouse=True)
def _shared_server_alive(request):
    """Names the cause when the shared server is gone, instead of a cascade of
    'connection refused' (it only stops on a signal: SIGTERM/SIGINT exit 0)."""
    yield
    if "server" in request.fixturenames:
        s = request.getfixturevalue("server")
        if not s.alive():
            pytest.fail(f"the shared flint server exited during this test (exit code "
                        f"{s.proc.returncode}); log tail:\n{s.log()[-1500:]}")


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory of private servers (`make(cgroup_tag=None)`), stopped at teardown."""
    servers = []

    def make(cgroup_tag=None, extra_args=(), extra_env=None):
        s = new_server(tmp_path_factory, "flint-private", cgroup_tag, extra_args, extra_env)
        servers.append(s)
        return s

    yield make
    for s in servers:
        try:
            finish_server(s)
        except AssertionError:
            pass


@pytest.fixture(scope="session")
def lam(server):
    return server.client()


@pytest.fixture
def fn(lam):
    """Creates functions for one test and deletes them afterwards.

    `fn(prefix, files, runtime=..., handler=..., **CreateFunction kwargs)`
    returns the function's name.
    """
    made = []

    def make(prefix, files=None, **kw):
        name = unique(prefix)
        create_function(lam, name, files, **kw)
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            lam.delete_function(FunctionName=name)
        except Exception:
            pass


@pytest.fixture(scope="session")
def healthy(lam):
    """A trivial Python echo function the hostile tests check the server with."""
    name = unique("healthy")
    create_function(lam, name, {"index.py": PY_ECHO})
    yield name
    try:
        lam.delete_function(FunctionName=name)
    except Exception:
        pass
