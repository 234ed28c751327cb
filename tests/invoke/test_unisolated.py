"""Hosts that cannot sandbox: flint says so at start and refuses to run functions, unless the
operator explicitly chooses the unisolated development mode (`--unisolated`), which it
announces loudly. On this (capable) host the test hook FLINT_TEST_NO_ISOLATION=1 makes flint
treat the host as one without namespaces."""

import os
import time

import botocore.exceptions
import pytest

from .invoke_support import (PY_ECHO, create_function, function_processes, invoke, report_fields,
                             rust_bootstrap_zip, unique)

NO_ISOLATION = {"FLINT_TEST_NO_ISOLATION": "1"}

PY_INSPECT = """
import os

def handler(event, context):
    with open(os.path.join(os.environ["TMPDIR"], "probe"), "w") as f:
        f.write("x")
    return {
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "cwd": os.getcwd(),
        "code_here": os.path.isfile(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "index.py")),
        "tmpdir": os.environ["TMPDIR"],
        "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"],
        "remaining": context.get_remaining_time_in_millis(),
        "event": event,
    }
"""

# Starts a grandchild that would outlive a careless teardown, then hangs past its timeout.
PY_HANG = """
import subprocess, time

def handler(event, context):
    subprocess.Popen(["sleep", "600"])
    time.sleep(600)
"""


def test_a_host_without_isolation_refuses_functions_and_says_why(make_server):
    s = make_server(extra_env=NO_ISOLATION)
    log = s.log()
    assert "this host cannot isolate functions" in log, log
    assert "--unisolated" in log, log
    lam = s.client()
    # The control plane works; invocations are refused with a service error.
    name = unique("refused")
    create_function(lam, name, {"index.py": PY_ECHO})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        invoke(lam, name, {"a": 1})
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500, err
    assert err["Error"]["Code"] == "ServiceException", err
    assert "cannot run functions on this host" in err["Error"]["Message"], err
    assert function_processes([name]) == []


def test_the_unisolated_mode_runs_functions_and_says_so_loudly(make_server):
    s = make_server(extra_args=["--unisolated"], extra_env=NO_ISOLATION)
    log = s.log()
    assert "UNISOLATED DEVELOPMENT MODE" in log, log
    assert "Never run untrusted code like this" in log, log
    lam = s.client()

    name = unique("plain-py")
    create_function(lam, name, {"index.py": PY_INSPECT}, Timeout=5)
    r = invoke(lam, name, {"hello": "plain"}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    body = r.json
    assert body["event"] == {"hello": "plain"}
    # Sandbox paths are translated to the host directories behind them.
    assert body["code_here"] is True, body
    assert body["task_root"] != "/var/task" and os.path.isdir(body["task_root"]), body
    assert body["cwd"] == body["task_root"], body
    assert os.path.isfile(os.path.join(body["tmpdir"], "probe")), body
    assert body["runtime_api"].startswith("127.0.0.1:"), body
    assert body["runtime_api"] != "127.0.0.1:9001", body
    assert 0 < body["remaining"] <= 5000, body
    fields = report_fields(r.log)
    assert "Init Duration" in fields, r.log
    assert int(fields["Max Memory Used"].split()[0]) > 0, r.log
    # Warm reuse works as in a sandbox.
    r2 = invoke(lam, name, {"again": 1}, LogType="Tail")
    assert r2.json["event"] == {"again": 1}
    assert "Init Duration" not in report_fields(r2.log)

    # A custom runtime built with the official Rust client.
    rust = unique("plain-rust")
    create_function(lam, rust, zip_bytes=rust_bootstrap_zip("echo"), runtime="provided.al2023",
                    handler="bootstrap")
    r = invoke(lam, rust, {"from": "rust"})
    assert r.status == 200 and r.function_error is None, r

    # A timeout tears down everything the function started.
    hang = unique("plain-hang")
    create_function(lam, hang, {"index.py": PY_HANG}, Timeout=1)
    r = invoke(lam, hang, {})
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Sandbox.Timedout", r
    deadline = time.time() + 10
    while function_processes([hang]) and time.time() < deadline:
        time.sleep(0.05)
    assert function_processes([hang]) == [], "a process of the timed-out function survived"

    # Deleting functions and stopping the server leave no process and no /tmp stand-in.
    tmpdir = body["tmpdir"]
    assert s.stop() == 0
    assert function_processes([name, rust, hang]) == []
    assert not os.path.exists(tmpdir), tmpdir
