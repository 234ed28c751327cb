"""The environment a function sees, compared with what AWS reported (issue 13, "The rest of the
environment as Lambda sets it"): resource limits, the user, HOME/PWD/SHLVL/PATH/LD_LIBRARY_PATH
and the rest of the variables, and the runtime's files under /var/lang and /var/runtime rather
than the host's paths.

The expected values are read from the recordings themselves
(shared/reference/aws-recorded: test_lambda_common's `test_introspection_invoke[<runtime>]`,
test_lambda's `test_runtime_ulimits` and `test_runtime_introspection_x86`), so the test says
which recorded value flint differs from."""

import json
import os
import resource
import time
import urllib.request

import pytest

from .invoke_support import REPO, host_has, invoke

RECORDED = os.environ.get(
    "FLINT_AWS_RECORDED", os.path.join(os.path.dirname(REPO), "shared", "reference", "aws-recorded"))
if not os.path.isdir(RECORDED):
    RECORDED = "/work/shared/reference/aws-recorded"

# Variables whose values vary per run or belong to other parts (credentials, X-Ray, ids):
# their presence is checked elsewhere; here only that nothing else differs.
VARYING = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
           "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_LOG_GROUP_NAME",
           "AWS_REGION", "AWS_DEFAULT_REGION", "_X_AMZN_TRACE_ID", "AWS_LAMBDA_RUNTIME_API",
           "AWS_XRAY_CONTEXT_MISSING", "AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS",
           "_AWS_XRAY_DAEMON_PORT"}
# What flint adds that Lambda does not show to the function (none may be a host path).
FLINT_ONLY = {"_LAMBDA_TELEMETRY_LOG_FD"}

PY_INTROSPECT = r'''
import os, pwd, resource, subprocess, sys, traceback

LIMITS = ["RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
          "RLIMIT_MEMLOCK", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_STACK"]

def fail():
    import json
    json.loads("{")

def handler(event, context):
    try:
        fail()
    except Exception:
        frames = [f.filename for f in traceback.extract_tb(sys.exc_info()[2])]
    return {
        "environment": dict(os.environ),
        "limits": {k: list(resource.getrlimit(getattr(resource, k))) for k in LIMITS},
        "user_pw_name": pwd.getpwuid(os.getuid()).pw_name,
        "user_whoami": subprocess.run(["whoami"], capture_output=True, text=True).stdout.strip(),
        "pwd": os.getcwd(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "os_file": os.__file__,
        "traceback_files": frames,
        "sys_path": sys.path,
    }
'''

NODE_INTROSPECT = r'''
exports.handler = async () => {
  let frames;
  try { require("node:fs").readFileSync("/nonexistent"); } catch (e) { frames = e.stack; }
  return { environment: process.env, execPath: process.execPath, pwd: process.cwd(), stack: frames };
};
'''


def wait_prestarted(lam, timeout=60):
    """Until a pre-spawned environment is ready and none is being prepared
    (GET /_flint/environments, as test_prestart.py)."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{lam.meta.endpoint_url}/_flint/environments") as r:
            view = json.loads(r.read())
        if view["Prespawned"] >= 1 and view["Prespawning"] == 0:
            return
        assert time.monotonic() < deadline, f"no pre-spawned environment became ready: {view}"
        time.sleep(0.05)


def recorded(file, scenario):
    with open(os.path.join(RECORDED, file)) as f:
        data = json.load(f)
    [key] = [k for k in data if k.endswith(scenario)]
    return data[key]["recorded-content"]


def recorded_environment(runtime):
    content = recorded("test_lambda_common.snapshot.json",
                       f"::test_introspection_invoke[{runtime}]")
    return content["invocation_result_payload"]["environment"]


def host_prefixes():
    """Where the host keeps its interpreters (what must not show inside)."""
    return [os.path.expanduser("~/.pyenv"), os.environ.get("PYENV_ROOT", "/root/.pyenv")]


def compare_environment(got, want, runtime):
    differences = {}
    for k in sorted(set(got) | set(want)):
        if k in VARYING or k in FLINT_ONLY:
            continue
        if k == "TEST_KEY":
            continue
        if got.get(k) != want.get(k):
            differences[k] = {"flint": got.get(k), "aws": want.get(k)}
    assert not differences, f"{runtime}: {json.dumps(differences, indent=1)}"


# Every Python runtime AWS recorded that this host can run (the others are refused:
# test_runtime_versions.py).
PYTHONS = [f"python3.{m}" for m in range(9, 15) if host_has(f"python3.{m}")]


@pytest.mark.parametrize("runtime", PYTHONS)
@pytest.mark.parametrize("start", ["fresh", "pre-started"])
def test_python_environment_is_lambdas(lam, fn, runtime, start):
    # The first cold start of a shape spawns its sandbox; the next one claims a pre-spawned
    # sandbox whose runtime was started ahead of its function: both must look the same.
    if start == "pre-started":
        warm_up = fn("envpy", {"handler.py": PY_INTROSPECT}, runtime=runtime,
                     handler="handler.handler", MemorySize=1024)
        assert invoke(lam, warm_up, {}).function_error is None
        wait_prestarted(lam)
    name = fn("envpy", {"handler.py": PY_INTROSPECT}, runtime=runtime, handler="handler.handler",
              MemorySize=1024, Environment={"Variables": {"TEST_KEY": "TEST_VAL"}})
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    out = r.json
    compare_environment(out["environment"], recorded_environment(runtime), runtime)
    assert out["environment"]["TEST_KEY"] == "TEST_VAL"

    want_limits = recorded("test_lambda.snapshot.json", "::test_runtime_ulimits")
    want_limits = dict(want_limits["invoke_runtime_ulimits"]["Payload"])
    # RLIMIT_NPROC counts every process of the sandbox user. As root (no user namespace per
    # environment) all environments share that user, so flint leaves it as its own (the
    # server inherits this test's) and the pids cgroup limits each environment; with a user
    # namespace each gets Lambda's 742 (README, "The environment").
    if os.geteuid() == 0:
        want_limits["RLIMIT_NPROC"] = list(resource.getrlimit(resource.RLIMIT_NPROC))
    assert out["limits"] == want_limits, out["limits"]

    intro = recorded("test_lambda.snapshot.json", "::test_runtime_introspection_x86")
    intro = intro["invoke_runtime_x86_introspection"]["Payload"]
    assert out["user_pw_name"] == intro["user_login_name"], out
    assert out["user_whoami"] == intro["user_whoami"], out
    assert out["pwd"] == intro["pwd"] == "/var/task"

    # The interpreter is at /var/lang, as on Lambda; tracebacks show /var/lang, /var/runtime
    # and /var/task, never the host's paths.
    minor = runtime.removeprefix("python")
    assert out["executable"] == f"/var/lang/bin/python{minor}", out["executable"]
    assert out["prefix"] == "/var/lang", out["prefix"]
    assert out["os_file"] == f"/var/lang/lib/python{minor}/os.py", out["os_file"]
    assert out["traceback_files"][0] == "/var/task/handler.py", out["traceback_files"]
    assert out["traceback_files"][-1].startswith(f"/var/lang/lib/python{minor}/json/"), out
    text = json.dumps(out)
    for host in host_prefixes():
        assert host not in text, f"host path {host} visible: {text}"


def test_python_uncaught_error_trace_has_no_host_paths(lam, fn):
    code = "import json\ndef handler(e, c):\n    json.loads('{')\n"
    name = fn("envtb", {"index.py": code}, runtime="python3.12")
    r = invoke(lam, name, {})
    assert r.function_error == "Unhandled", r
    trace = "".join(r.json["stackTrace"])
    assert '"/var/task/index.py"' in trace and '"/var/lang/lib/python3.12/json/' in trace, trace
    for host in host_prefixes():
        assert host not in trace, trace


@pytest.mark.parametrize("start", ["fresh", "pre-started"])
def test_node_environment_is_lambdas(lam, fn, start):
    runtime = "nodejs20.x"
    if start == "pre-started":
        warm_up = fn("envnode", {"index.js": NODE_INTROSPECT}, runtime=runtime,
                     handler="index.handler", MemorySize=1024)
        assert invoke(lam, warm_up, {}).function_error is None
        wait_prestarted(lam)
    name = fn("envnode", {"index.js": NODE_INTROSPECT}, runtime=runtime, handler="index.handler",
              MemorySize=1024, Environment={"Variables": {"TEST_KEY": "TEST_VAL"}})
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    out = r.json
    compare_environment(out["environment"], recorded_environment(runtime), runtime)
    assert out["execPath"] == "/var/lang/bin/node", out
    assert out["pwd"] == "/var/task"
    assert "/usr/bin/node" not in json.dumps(out)


# A custom runtime's bootstrap (no shell: a shell sets PWD and SHLVL itself) that answers
# every event with the environment it was started with (/proc/self/environ: Python's own
# locale coercion must not show).
PROVIDED_BOOTSTRAP = r'''#!/usr/bin/python3 -S
import json, os, urllib.request
api = "http://%s/2018-06-01/runtime/invocation" % os.environ["AWS_LAMBDA_RUNTIME_API"]
with open("/proc/self/environ", "rb") as f:
    started = dict(e.decode().split("=", 1) for e in f.read().split(b"\0") if b"=" in e)
while True:
    with urllib.request.urlopen(api + "/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    body = json.dumps({"environment": started, "pwd": os.getcwd()}).encode()
    urllib.request.urlopen(urllib.request.Request(api + "/%s/response" % rid, data=body)).read()
'''


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_custom_runtime_environment_is_lambdas(lam, fn, runtime):
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no /usr/bin/python3 on this host, so none inside the sandbox")
    name = fn("envprov", {"bootstrap": PROVIDED_BOOTSTRAP}, runtime=runtime,
              handler="function.handler", MemorySize=1024,
              Environment={"Variables": {"TEST_KEY": "TEST_VAL"}})
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    compare_environment(r.json["environment"], recorded_environment(runtime), runtime)
    assert r.json["pwd"] == "/var/task"
