"""Fixtures of the Invoke suite: a real `flint serve` (root, sandboxed
environments), a boto3 client with long read timeouts and no retries, and
per-test functions. Helpers live in invoke_support.py.
"""

import os

import pytest

import subprocess

from .invoke_support import (PY_ECHO, RUNTIME_SDK_DIR, create_function, finish_server, flint_bin,
                             new_server, unique)


_HERE = os.path.dirname(os.path.abspath(__file__))
NOT_ROOT = "the Invoke suite must run as root (flint sandboxes functions)"


def pytest_collection_modifyitems(config, items):
    """Without root, every test of this suite is skipped with the reason. Only this
    directory's: other suites in the same pytest session still run. (A conftest's
    collection hook sees every item of the session, hence the path check.)"""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason=NOT_ROOT)
    for item in items:
        if str(item.path).startswith(_HERE + os.sep):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _flint_binary():
    """Every test of this suite fails, saying why, when there is no flint to test."""
    path = flint_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"flint binary not found at {path!r}: build it with `cargo build -p flint` "
                    "or set FLINT_BIN", pytrace=False)
    # The AWS SDKs of the managed runtimes, as a user installs them (a no-op when the pinned
    # versions are there). A failure is kept for the tests that need them (runtime_sdk).
    out = subprocess.run([path, "runtime-sdk", "install", "--dir", RUNTIME_SDK_DIR],
                         capture_output=True, text=True, timeout=600)
    _SDK_INSTALL["result"] = out


_SDK_INSTALL = {}


@pytest.fixture
def runtime_sdk():
    """The installed SDKs' status line; fails the test, saying why, when the install failed."""
    out = _SDK_INSTALL.get("result")
    if out is None or out.returncode != 0:
        pytest.fail(f"`flint runtime-sdk install` failed: {out and (out.stderr or out.stdout)}",
                    pytrace=False)
    return out.stdout


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
