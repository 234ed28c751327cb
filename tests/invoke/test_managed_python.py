"""Managed Python runtimes (flint's own client on the host's Pythons) through boto3."""

import base64
import re

import pytest

from .invoke_support import function_arn, invoke, report_fields, report_line

CONTEXT_FN = r'''
import os, sys, time

COUNT = 0
ENV_KEYS = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "AWS_DEFAULT_REGION",
            "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "_HANDLER", "AWS_EXECUTION_ENV",
            "AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE",
            "GREETING", "SECOND"]

def handler(event, context):
    global COUNT
    COUNT += 1
    print("hello from the handler", COUNT)
    cc = context.client_context
    return {
        "event": event,
        "count": COUNT,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "python": "%d.%d" % sys.version_info[:2],
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": None if cc is None else {"custom": cc.custom, "env": cc.env,
                                                  "client": None if cc.client is None else vars(cc.client)},
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
    }
'''

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12"])
def test_echo_context_and_env(lam, fn, runtime):
    name = fn("py-ctx", {"index.py": CONTEXT_FN}, runtime=runtime, MemorySize=256, Timeout=7,
              Environment={"Variables": {"GREETING": "hi there", "SECOND": "2"}})
    event = {"hello": "world", "n": [1, 2, {"x": None}], "unicode": "é✓"}
    r = invoke(lam, name, event)
    assert r.status == 200 and r.function_error is None, r
    assert r.executed_version == "$LATEST"
    out = r.json
    assert out["event"] == event
    # flint runs python3.N only on a host Python 3.N (test_runtime_versions.py).
    assert out["python"] == runtime.removeprefix("python"), out
    assert out["function_name"] == name
    assert out["function_version"] == "$LATEST"
    assert str(out["memory_limit_in_mb"]) == "256"
    assert out["invoked_function_arn"] == function_arn(name)
    assert UUID.match(out["aws_request_id"]), out
    assert 5000 < out["remaining_ms"] <= 7000, out
    assert out["cwd"] == "/var/task"
    assert out["log_group_name"] == f"/aws/lambda/{name}"
    assert re.match(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$", out["log_stream_name"]), out
    env = out["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["_HANDLER"] == "index.handler"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime}"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert re.match(r"^[\w.\-]+:\d+$", env["AWS_LAMBDA_RUNTIME_API"]), env
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == out["log_stream_name"]
    assert env["GREETING"] == "hi there" and env["SECOND"] == "2"
    assert out["client_context"] is None


def test_python_runtime_versions_reported_by_server(server):
    """flint says which host interpreters the managed runtimes run on."""
    log = server.log()
    line = [x for x in log.splitlines() if "managed runtimes" in x]
    assert line, log[-3000:]
    assert "Python 3.11" in line[0] and "Node.js" in line[0], line[0]


def test_request_id_differs_per_invoke(lam, fn):
    name = fn("py-rid", {"index.py": CONTEXT_FN})
    ids = {invoke(lam, name).json["aws_request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_exception_error_body(lam, fn):
    code = ("class MyError(Exception):\n    pass\n\n"
            "def handler(event, context):\n"
            "    print('about to fail')\n"
            "    raise MyError('it broke: ' + event['why'])\n")
    name = fn("py-raise", {"index.py": code})
    r = invoke(lam, name, {"why": "on purpose"}, LogType="Tail")
    assert r.status == 200, r
    assert r.function_error == "Unhandled", r
    assert r.executed_version == "$LATEST"
    body = r.json
    assert set(body) == {"errorMessage", "errorType", "requestId", "stackTrace"}, body
    assert body["errorType"] == "MyError"
    assert body["errorMessage"] == "it broke: on purpose"
    assert UUID.match(body["requestId"]), body
    assert isinstance(body["stackTrace"], list) and body["stackTrace"], body
    assert any('/var/task/index.py' in f and "in handler" in f for f in body["stackTrace"]), body
    # The function's own runtime frames are not shown (as with the real client).
    assert not any("bootstrap.py" in f for f in body["stackTrace"]), body
    assert "about to fail" in r.log
    assert body["requestId"] in report_line(r.log)
    fields = report_fields(r.log)
    assert fields.get("Status") in (None, "error"), fields


def test_import_error(lam, fn):
    name = fn("py-import", {"index.py": "import no_such_module_xyz\n\ndef handler(e, c):\n    return 1\n"})
    r = invoke(lam, name)
    assert r.status == 200 and r.function_error == "Unhandled", r
    body = r.json
    assert body["errorType"] == "Runtime.ImportModuleError", body
    assert body["errorMessage"].startswith("Unable to import module 'index': "), body
    assert "no_such_module_xyz" in body["errorMessage"]
    # Init errors carry an empty requestId in the Python client's body.
    assert body.get("requestId") == "", body


def test_missing_module_file(lam, fn):
    name = fn("py-nomod", {"other.py": "x = 1\n"})
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.ImportModuleError", r
    assert r.json["errorMessage"].startswith("Unable to import module 'index'"), r


def test_missing_handler(lam, fn):
    name = fn("py-nohandler", {"index.py": "def other(e, c):\n    return 1\n"})
    r = invoke(lam, name)
    assert r.status == 200 and r.function_error == "Unhandled", r
    body = r.json
    assert body["errorType"] == "Runtime.HandlerNotFound", body
    assert body["errorMessage"] == "Handler 'handler' missing on module 'index'", body


def test_syntax_error(lam, fn):
    name = fn("py-syntax", {"index.py": "def handler(e, c)\n    return 1\n"})
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.UserCodeSyntaxError", r


def test_log_tail_and_report_format(lam, fn):
    name = fn("py-tail", {"index.py": CONTEXT_FN}, MemorySize=192)
    r = invoke(lam, name, {"a": 1}, LogType="Tail")
    assert r.function_error is None, r
    rid = r.json["aws_request_id"]
    lines = [line for line in r.log.splitlines() if line.strip()]
    start = [i for i, line in enumerate(lines) if line.startswith("START ")]
    end = [i for i, line in enumerate(lines) if line.startswith("END ")]
    rep = [i for i, line in enumerate(lines) if line.startswith("REPORT ")]
    assert len(start) == len(end) == len(rep) == 1, r.log
    assert start[0] < end[0] < rep[0], r.log
    assert lines[start[0]] == f"START RequestId: {rid} Version: $LATEST", r.log
    assert lines[end[0]] == f"END RequestId: {rid}", r.log
    printed = [line for line in lines[start[0]:end[0]] if "hello from the handler 1" in line]
    assert printed, r.log
    line = report_line(r.log)
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 192 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t",
        line,
    ), repr(line)
    f = report_fields(r.log)
    assert int(f["Billed Duration"].split()[0]) >= float(f["Duration"].split()[0])
    assert 0 < int(f["Max Memory Used"].split()[0]) <= 192, f

    # Warm: same process, counter grows, no Init Duration.
    r2 = invoke(lam, name, {"a": 2}, LogType="Tail")
    assert r2.json["count"] == 2 and r2.json["pid"] == r.json["pid"], r2
    f2 = report_fields(r2.log)
    assert "Init Duration" not in f2, r2.log
    assert "hello from the handler 2" in r2.log
    # Without LogType there is no LogResult.
    r3 = invoke(lam, name)
    assert r3.log is None and "x-amz-log-result" not in r3.headers
    assert r3.json["count"] == 3


def test_log_tail_is_last_4kb(lam, fn):
    code = "def handler(event, context):\n    for i in range(400):\n        print('line %04d ' % i + 'x' * 40)\n    return 'ok'\n"
    name = fn("py-biglog", {"index.py": code})
    r = invoke(lam, name, LogType="Tail")
    assert r.json == "ok"
    raw = base64_len(r.raw["LogResult"])
    assert raw <= 4096, raw
    assert r.log.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId:"), r.log[-300:]
    assert "line 0399" in r.log and "line 0000" not in r.log


def base64_len(b64):
    return len(base64.b64decode(b64))


def test_event_types(lam, fn):
    name = fn("py-types", {"index.py": "def handler(event, context):\n    return {'type': type(event).__name__, 'event': event}\n"})
    for payload, typ in [("[1,2,3]", "list"), ('"a string"', "str"), ("42", "int"), ("null", "NoneType"), ("", "dict")]:
        r = invoke(lam, name, payload=payload)
        assert r.function_error is None, r
        assert r.json["type"] == typ, (payload, r)


def test_return_value_not_json_serializable(lam, fn):
    name = fn("py-marshal", {"index.py": "def handler(event, context):\n    return {1, 2}\n"})
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.MarshalError", r



SYS_PATH = """
import sys

def handler(event, context):
    return {"path": sys.path, "site": "site" in sys.modules}
"""


def test_sys_path_is_the_functions_not_the_hosts(lam, fn):
    """The function sees its package first, then layers, the runtime and the standard
    library; not the host interpreter's site-packages (the operator's, not on Lambda)."""
    r = invoke(lam, fn("syspath", {"index.py": SYS_PATH}), {})
    assert r.function_error is None, r
    path = r.json["path"]
    assert path[0] == "/var/task", path
    assert path[1:3] == [
        f"/opt/python/lib/python{path_version(path)}/site-packages", "/opt/python"], path
    host_packages = [p for p in path[3:] if "site-packages" in p or "dist-packages" in p]
    assert host_packages == [], path
    assert r.json["site"] is False, r.json


def path_version(path):
    m = re.search(r"/opt/python/lib/python(\d+\.\d+)/site-packages", " ".join(path))
    assert m, path
    return m.group(1)


WRAPPER = '#!/bin/sh\nexport WRAPPED_BY="$0"\nexport WRAPPED_ARGS="$*"\nexec "$@"\n'


@pytest.mark.parametrize("runtime,files,handler", [
    ("python3.11",
     {"index.py": "import os, sys\ndef handler(e, c):\n"
                  "    return [os.environ.get('WRAPPED_BY'), os.environ.get('WRAPPED_ARGS'), sys.argv[0]]\n"},
     "index.handler"),
    ("nodejs20.x",
     {"index.js": "exports.handler = async () => "
                  "[process.env.WRAPPED_BY, process.env.WRAPPED_ARGS, process.argv[1]];\n"},
     "index.handler"),
])
def test_exec_wrapper_runs_the_runtime(lam, fn, runtime, files, handler):
    # AWS_LAMBDA_EXEC_WRAPPER: Lambda executes the wrapper with the runtime's command as its
    # arguments, with the function's environment (here: from the first cold start on, so no
    # pre-started runtime may be used for it).
    files = dict(files, **{"bin/wrapper.sh": WRAPPER})
    variables = {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/bin/wrapper.sh"}
    for _ in range(2):  # the second cold start would find pre-spawned environments
        name = fn("wrapped", files, runtime=runtime, handler=handler,
                  Environment={"Variables": variables})
        r = invoke(lam, name, {})
        assert r.status == 200 and r.function_error is None, r
        wrapped_by, args, script = r.json
        assert wrapped_by == "/var/task/bin/wrapper.sh", r.json
        # The runtime's own command line follows, ending with its bootstrap script.
        assert args.endswith(script) and script.startswith("/var/runtime/bootstrap"), r.json


@pytest.mark.parametrize("wrapper,mode,why", [
    ("/var/task/missing.sh", None, "no such file or directory"),
    ("/var/task/wrapper.sh", 0o644, "permission denied"),
    # Outside the package: exec inside the sandbox decides; its failure is the function's
    # error too, never a 500 ServiceException (which boto3 retries four times).
    ("/nonexistent/wrapper.sh", None, "no such file or directory"),
    ("/tmp/wrapper.sh", None, "no such file or directory"),
    ("/etc/passwd", None, "permission denied"),
])
def test_exec_wrapper_that_cannot_run_is_an_invalid_entrypoint(lam, fn, wrapper, mode, why):
    files = {"index.py": "def handler(e, c):\n    return 1\n", "wrapper.sh": (WRAPPER, mode or 0o755)}
    name = fn("badwrap", files, Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": wrapper}})
    r = invoke(lam, name, {})
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.InvalidEntrypoint", r
    assert r.json["errorMessage"].endswith(f"Error: fork/exec {wrapper}: {why}"), r


def test_unreserved_variables_are_the_functions_own(lam, fn):
    # LANG, PATH, LD_LIBRARY_PATH, NODE_PATH and PYTHONPATH are set by Lambda but "not
    # reserved and can be extended in your function configuration": the function's value
    # wins; the platform's other variables still win over a customer's.
    keys = ["LANG", "PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "LAMBDA_TASK_ROOT"]
    code = "import os\ndef handler(e, c):\n    return {k: os.environ.get(k) for k in %r}\n" % keys
    mine = {"LANG": "C.UTF-8", "PATH": "/var/task/bin:/usr/bin:/bin",
            "LD_LIBRARY_PATH": "/var/task/lib", "PYTHONPATH": "/var/task/vendor"}
    name = fn("unreserved", {"index.py": code}, Environment={"Variables": mine})
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    assert r.json == dict(mine, LAMBDA_TASK_ROOT="/var/task"), r.json
    plain = fn("unreserved", {"index.py": code})
    defaults = invoke(lam, plain, {}).json
    assert defaults["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin", defaults
    assert defaults["LANG"] == "en_US.UTF-8" and defaults["PYTHONPATH"] == "/var/runtime", defaults
