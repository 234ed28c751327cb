"""Custom runtimes (`provided.al2023`) driven by the official runtime interface
clients: the Rust `lambda_runtime` crate (crates/flint-test-functions), the
Python `awslambdaric` (PyPI) and the Node.js `aws-lambda-ric` (npm)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from .invoke_support import (HERE, function_arn, invoke, report_fields, rust_bootstrap_zip,
                      zip_dir)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CACHE = os.path.join(HERE, ".cache")


def rust_zip(binary):
    return rust_bootstrap_zip(binary)


def test_rust_lambda_runtime_echo(lam, fn):
    name = fn("rust-echo", zip_bytes=rust_zip("echo"), runtime="provided.al2023",
              handler="not.used", MemorySize=160, Timeout=8,
              Environment={"Variables": {"FLINT_TEST_VAR": "from-config"}})
    event = {"hello": "rust", "nested": {"list": [1, 2.5, None, True]}}
    r = invoke(lam, name, event, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    assert r.executed_version == "$LATEST"
    out = r.json
    assert out["event"] == event
    ctx = out["context"]
    assert UUID.match(ctx["request_id"]), ctx
    assert ctx["invoked_function_arn"] == function_arn(name)
    assert ctx["function_name"] == name
    assert ctx["memory_mb"] == 160
    assert ctx["version"] == "$LATEST"
    assert ctx["log_group"] == f"/aws/lambda/{name}"
    assert 6000 < ctx["remaining_ms"] <= 8000, ctx
    env = out["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "160"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["_HANDLER"] == "not.used"
    assert env["FLINT_TEST_VAR"] == "from-config"
    assert env["AWS_REGION"] == "us-east-1"
    # Custom runtimes get no AWS_EXECUTION_ENV (facts §3.6).
    assert "AWS_EXECUTION_ENV" not in env, env
    assert "echo function starting" in r.log
    assert "Init Duration" in report_fields(r.log)
    assert out["count"] == 1
    # Warm reuse, then a versioned invoke with an alias ARN.
    r2 = invoke(lam, name, {"n": 2}, LogType="Tail")
    assert r2.json["count"] == 2 and r2.json["pid"] == out["pid"], r2
    assert "Init Duration" not in report_fields(r2.log)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    r3 = invoke(lam, name, {"n": 3}, Qualifier="prod")
    assert r3.executed_version == "1", r3
    assert r3.json["context"]["invoked_function_arn"] == function_arn(name, "prod")
    assert r3.json["context"]["version"] == "1"


def test_rust_lambda_runtime_error(lam, fn):
    name = fn("rust-fail", zip_bytes=rust_zip("fail"), runtime="provided.al2023", handler="x")
    r = invoke(lam, name, {"message": "custom failure text"}, LogType="Tail")
    assert r.status == 200 and r.function_error == "Unhandled", r
    assert r.json == {"errorType": "FlintTestError", "errorMessage": "custom failure text"}, r
    assert "fail function: custom failure text" in r.log
    # An error leaves the environment healthy and reused.
    r2 = invoke(lam, name, {}, LogType="Tail")
    assert r2.json["errorMessage"] == "the fail function always fails"
    assert "Init Duration" not in report_fields(r2.log)


def test_rust_timeout_then_recovers(lam, fn):
    name = fn("rust-sleep", zip_bytes=rust_zip("sleep"), runtime="provided.al2023", handler="x",
              Timeout=1)
    assert invoke(lam, name, {"seconds": 0.05}).json == {"slept": 0.05}
    r = invoke(lam, name, {"seconds": 10}, LogType="Tail")
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Sandbox.Timedout", r
    assert r.json["errorMessage"].endswith("Error: Task timed out after 1.00 seconds"), r
    r2 = invoke(lam, name, {"seconds": 0}, LogType="Tail")
    assert r2.json == {"slept": 0}, r2
    assert "Init Duration" in report_fields(r2.log)


def test_missing_bootstrap(lam, fn):
    name = fn("no-bootstrap", {"README": "nothing to run"}, runtime="provided.al2023", handler="x")
    r = invoke(lam, name)
    assert r.status == 200 and r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.InvalidEntrypoint", r


def test_bootstrap_not_executable(lam, fn):
    name = fn("bootstrap-644", {"bootstrap": ("#!/bin/sh\necho hi\n", 0o644)},
              runtime="provided.al2023", handler="x")
    r = invoke(lam, name)
    assert r.status == 200 and r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.InvalidEntrypoint", r
    assert "permission denied" in r.json["errorMessage"], r


def test_shell_bootstrap_with_curl(lam, fn):
    """The classic tutorial bootstrap: a shell loop with curl (host /usr/bin/curl)."""
    if not os.path.exists("/usr/bin/curl"):
        pytest.skip("no /usr/bin/curl on this host, so none inside the sandbox")
    bootstrap = r'''#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -X POST "$API/$ID/response" -d "{\"shell\":true,\"event\":$EVENT,\"handler\":\"$_HANDLER\"}" >/dev/null
done
'''
    name = fn("shell-curl", {"bootstrap": bootstrap}, runtime="provided.al2023", handler="fn.sh")
    r = invoke(lam, name, {"via": "curl"})
    assert r.function_error is None, r
    assert r.json == {"shell": True, "event": {"via": "curl"}, "handler": "fn.sh"}


# --------------------------------------------------------------------------
# awslambdaric (Python)

RIC_APP = r'''
import os, sys
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("ric handler", COUNT)
    return {"event": event, "count": COUNT, "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn, "name": context.function_name,
            "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis(),
            "python": "%d.%d" % sys.version_info[:2], "ric": sys.modules["awslambdaric"].__file__}

def fail(event, context):
    raise ValueError("ric says no")
'''


@pytest.fixture(scope="session")
def awslambdaric_dir():
    """awslambdaric pip-installed for the sandbox's /usr/bin/python3 (cached in tests/invoke/.cache)."""
    target = os.path.join(CACHE, "awslambdaric")
    if os.path.isdir(os.path.join(target, "awslambdaric")):
        return target
    pyver = subprocess.run(["/usr/bin/python3", "-c", "import sys;print('%d%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    tmp = target + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--only-binary=:all:", "--python-version", pyver, "--implementation", "cp",
                    "--platform", "manylinux2014_x86_64", "--target", tmp, "awslambdaric>=3,<5"],
                   check=True, timeout=300)
    os.replace(tmp, target)
    return target


def ric_zip(ric_dir):
    bootstrap = "#!/bin/sh\nexport PYTHONPATH=/var/task\nexec /usr/bin/python3 -m awslambdaric \"$_HANDLER\"\n"
    return zip_dir(ric_dir, extra={"app.py": RIC_APP, "bootstrap": (bootstrap, 0o755)})


def test_awslambdaric_echo_and_error(lam, fn, awslambdaric_dir):
    z = ric_zip(awslambdaric_dir)
    name = fn("ric-py", zip_bytes=z, runtime="provided.al2023", handler="app.handler", MemorySize=192)
    event = {"ric": "python", "values": [1, 2, 3]}
    r = invoke(lam, name, event, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    out = r.json
    assert out["event"] == event
    assert out["ric"].startswith("/var/task/awslambdaric/"), out
    assert UUID.match(out["request_id"]) and out["name"] == name
    assert out["arn"] == function_arn(name)
    assert str(out["memory"]) == "192"
    assert 0 < out["remaining"] <= 3000
    assert "ric handler 1" in r.log
    r2 = invoke(lam, name, {"again": 1})
    assert r2.json["count"] == 2, r2

    name2 = fn("ric-py-fail", zip_bytes=z, runtime="provided.al2023", handler="app.fail")
    r = invoke(lam, name2, {})
    assert r.status == 200 and r.function_error == "Unhandled", r
    body = r.json
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "ric says no", body
    assert UUID.match(body["requestId"]) and isinstance(body["stackTrace"], list), body

    name3 = fn("ric-py-nohandler", zip_bytes=z, runtime="provided.al2023", handler="app.nothing")
    r = invoke(lam, name3, {})
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.HandlerNotFound", r

    name4 = fn("ric-py-import", zip_bytes=z, runtime="provided.al2023", handler="nomodule.handler")
    r = invoke(lam, name4, {})
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.ImportModuleError", r


# --------------------------------------------------------------------------
# aws-lambda-ric (Node.js)

NODE_RIC_APP = r'''
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  return { event, count, name: context.functionName, arn: context.invokedFunctionArn,
           requestId: context.awsRequestId };
};
exports.fail = async () => { throw new TypeError("node ric says no"); };
'''


def node_ric_dir():
    """The npm-installed aws-lambda-ric built by tests/invoke/setup.sh, or a skip reason."""
    d = os.path.join(CACHE, "node-ric", "node_modules", "aws-lambda-ric")
    marker = os.path.join(d, "package.json")
    if os.path.isfile(marker):
        return d, None
    reason_file = os.path.join(CACHE, "node-ric.skip")
    if os.path.isfile(reason_file):
        with open(reason_file) as f:
            return None, f.read().strip()
    return None, "aws-lambda-ric is not installed: run tests/invoke/setup.sh first"


def test_aws_lambda_ric_node(lam, fn):
    d, reason = node_ric_dir()
    if d is None:
        pytest.skip(f"aws-lambda-ric unavailable: {reason}")
    node = shutil.which("node") or "/usr/bin/node"
    bootstrap = (f"#!/bin/sh\nexport NODE_PATH=/var/task/node_modules\n"
                 f"exec {node} /var/task/node_modules/aws-lambda-ric/index.mjs \"$_HANDLER\"\n")
    z = zip_dir(d, prefix="node_modules/aws-lambda-ric",
                extra={"index.js": NODE_RIC_APP, "bootstrap": (bootstrap, 0o755)})
    name = fn("ric-node", zip_bytes=z, runtime="provided.al2023", handler="index.handler")
    r = invoke(lam, name, {"ric": "node"})
    assert r.status == 200 and r.function_error is None, r
    assert r.json["event"] == {"ric": "node"} and r.json["name"] == name, r
    assert r.json["arn"] == function_arn(name)
    assert invoke(lam, name, {}).json["count"] == 2

    name2 = fn("ric-node-fail", zip_bytes=z, runtime="provided.al2023", handler="index.fail")
    r = invoke(lam, name2, {})
    assert r.function_error == "Unhandled", r
    body = r.json
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "node ric says no", body
    assert isinstance(body["trace"], list), body
