"""Pre-started Python runtimes (flint-sandbox's prespawn.rs): a cold start can claim an
environment whose interpreter has already started and imported flint's runtime client; the
function's environment arrives at the claim. Nothing about the function may tell the
difference, except that /proc/self/environ (which the runtime rewrites with the function's
variables) ends in NUL padding (documented). These tests use that one trace to know which
path ran.
"""

import json
import subprocess
import time
import urllib.request

from .invoke_support import PY_ECHO, create_function, flint_bin, invoke, unique

PROBE = r'''
import logging, os, subprocess, sys, time

def handler(event, context):
    logging.getLogger().warning("json-log-probe")
    with open("/proc/self/environ", "rb") as f:
        raw = f.read()
    initial = raw.split(b"\0")
    child = subprocess.run(["/usr/bin/env"], capture_output=True, text=True).stdout.splitlines()
    return {
        "prestarted": raw.endswith(b"\0\0"),
        "environ_greeting": [e.decode() for e in initial if e.startswith(b"GREETING=")],
        "environ_flint": [e.decode()[:40] for e in initial if e.startswith(b"_FLINT")],
        "environ_name": sum(e.startswith(b"AWS_LAMBDA_FUNCTION_NAME=") for e in initial),
        "greeting": os.environ.get("GREETING"),
        "prestart_var": os.environ.get("_FLINT_PRESTART_FD"),
        "child_env": sorted(l for l in child
                            if l.startswith(("GREETING=", "AWS_LAMBDA_FUNCTION_NAME=", "_FLINT"))),
        "cwd": os.getcwd(),
        "sys_path0": sys.path[0],
        "function_name": context.function_name,
        "hash_randomization": sys.flags.hash_randomization,
        "uid": os.getuid(),
    }
'''


def environments(server):
    with urllib.request.urlopen(server.endpoint + "/_flint/environments", timeout=10) as r:
        return json.loads(r.read())


def await_prespawned(server, timeout=60):
    """Until a pre-spawned environment is ready and none is being prepared."""
    deadline = time.monotonic() + timeout
    while True:
        view = environments(server)
        if view["Prespawned"] >= 1 and view["Prespawning"] == 0:
            return view
        assert time.monotonic() < deadline, f"no pre-spawned environment became ready: {view}"
        time.sleep(0.05)


def json_records(log):
    """The log lines that are JSON objects."""
    records = []
    for line in log.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


def probe(lam, prefix, variables, **kw):
    name = unique(prefix)
    create_function(lam, name, {"index.py": PROBE}, Timeout=30,
                    Environment={"Variables": variables}, **kw)
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    return name, r


def test_a_prestarted_runtime_runs_the_function_as_if_started_for_it(make_server):
    server = make_server()
    lam = server.client()
    # The first Python cold start teaches flint the shape; its refill pre-starts runtimes.
    teacher = unique("teacher")
    create_function(lam, teacher, {"index.py": PY_ECHO})
    assert environments(server)["Prespawned"] == 0
    assert invoke(lam, teacher, {"a": 1}).json == {"a": 1}
    await_prespawned(server)

    name, r = probe(lam, "prestarted", {"GREETING": "hello"},
                    LoggingConfig={"LogFormat": "JSON"})
    out = r.json
    # This cold start claimed a runtime started before the function existed ...
    assert out["prestarted"] is True, out
    # ... and the function sees its own environment everywhere it looks.
    assert out["greeting"] == "hello", out
    assert out["prestart_var"] is None, out
    # /proc/self/environ included (tools find the function's processes by it).
    assert out["environ_greeting"] == ["GREETING=hello"], out
    assert out["environ_flint"] == [] and out["environ_name"] == 1, out
    assert out["child_env"] == [f"AWS_LAMBDA_FUNCTION_NAME={name}", "GREETING=hello"], out
    assert out["cwd"] == "/var/task" and out["sys_path0"] == "/var/task", out
    assert out["function_name"] == name
    assert out["uid"] != 0
    # Settings the client reads from the environment are the function's: JSON logs.
    records = json_records(r.log)
    assert any(rec.get("message") == "json-log-probe" for rec in records), r.log
    # Init Duration is reported for it like for any cold start.
    assert "Init Duration:" in r.log, r.log

    # Warm reuse afterwards is the same environment.
    again = invoke(lam, name, {})
    assert again.json["prestarted"] is True


def test_start_up_variables_get_a_runtime_started_with_them(make_server):
    server = make_server()
    lam = server.client()
    # PYTHONHASHSEED is read by the interpreter as it starts: a runtime started without it
    # would not honour it, so this function's shape is its own. Its first cold start starts
    # the interpreter with the variable ...
    _, first = probe(lam, "hashseed", {"PYTHONHASHSEED": "0", "GREETING": "a"})
    assert first.json["prestarted"] is False, first.json
    assert first.json["hash_randomization"] == 0, first.json
    # ... and the runtimes pre-started for the next one are started with it too.
    await_prespawned(server)
    _, second = probe(lam, "hashseed", {"PYTHONHASHSEED": "0", "GREETING": "b"})
    assert second.json["prestarted"] is True, second.json
    assert second.json["hash_randomization"] == 0, second.json
    assert second.json["greeting"] == "b"
    # A function without it does not get one of those runtimes (random hashing, as always).
    await_prespawned(server)
    _, plain = probe(lam, "hashseed", {"GREETING": "c"})
    assert plain.json["hash_randomization"] == 1, plain.json


def test_without_pre_spawned_environments_nothing_is_pre_started(make_server):
    server = make_server(extra_args=["--prewarm-environments", "0"])
    lam = server.client()
    for prefix in ("bare-a", "bare-b"):
        _, r = probe(lam, prefix, {"GREETING": "x"})
        assert r.json["prestarted"] is False, r.json
        assert r.json["environ_greeting"] == ["GREETING=x"], r.json
    view = environments(server)
    assert view["Prespawned"] == 0 and view["Prespawning"] == 0, view


NODE_PROBE = r'''
const fs = require('fs');
const { execFileSync } = require('child_process');
exports.handler = async (event, context) => {
  console.log('node-log-probe');
  const raw = fs.readFileSync('/proc/self/environ');
  const initial = raw.toString('latin1').split('\0');
  const child = execFileSync('/usr/bin/env', { encoding: 'utf8' }).split('\n');
  return {
    prestarted: raw.length >= 2 && raw[raw.length - 1] === 0 && raw[raw.length - 2] === 0,
    environ_greeting: initial.filter((e) => e.startsWith('GREETING=')),
    environ_flint: initial.filter((e) => e.startsWith('_FLINT')).map((e) => e.slice(0, 40)),
    greeting: process.env.GREETING ?? null,
    prestart_var: process.env._FLINT_PRESTART_FD ?? null,
    child_env: child.filter((l) => /^(GREETING|AWS_LAMBDA_FUNCTION_NAME|_FLINT)/.test(l)).sort(),
    cwd: process.cwd(),
    function_name: context.functionName,
  };
};
'''


def test_a_prestarted_node_runtime_runs_the_function_as_if_started_for_it(make_server):
    server = make_server()
    lam = server.client()
    teacher = unique("node-teacher")
    create_function(lam, teacher, {"index.js": "exports.handler = async (e) => e;\n"},
                    runtime="nodejs20.x")
    assert invoke(lam, teacher, {"a": 1}).json == {"a": 1}
    await_prespawned(server)
    name = unique("node-prestarted")
    create_function(lam, name, {"index.js": NODE_PROBE}, runtime="nodejs20.x", Timeout=30,
                    Environment={"Variables": {"GREETING": "hej"}},
                    LoggingConfig={"LogFormat": "JSON"})
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    out = r.json
    assert out["prestarted"] is True, out
    assert out["greeting"] == "hej" and out["prestart_var"] is None, out
    assert out["environ_greeting"] == ["GREETING=hej"] and out["environ_flint"] == [], out
    assert out["child_env"] == [f"AWS_LAMBDA_FUNCTION_NAME={name}", "GREETING=hej"], out
    assert out["cwd"] == "/var/task" and out["function_name"] == name, out
    # The function's log format (JSON) is the one its console uses.
    records = json_records(r.log)
    assert any(rec.get("message") == "node-log-probe" for rec in records), r.log



def test_a_pythonpath_into_the_code_works_on_a_prestarted_runtime(make_server):
    # PYTHONPATH is both unreserved (the function's value wins over the runtime's) and a
    # start-up variable: a pre-started interpreter has it on sys.path while /var/task is
    # still empty, and after the claim the code there must be importable all the same.
    server = make_server()
    lam = server.client()
    files = {"index.py": "import vendored\ndef handler(e, c):\n    return vendored.VALUE\n",
             "vendor/vendored.py": "VALUE = 'from vendor'\n"}
    variables = {"PYTHONPATH": "/var/task/vendor"}
    first = unique("pypath")
    create_function(lam, first, files, Environment={"Variables": variables})
    assert invoke(lam, first).json == "from vendor"
    await_prespawned(server)
    second = unique("pypath")
    create_function(lam, second, files, Environment={"Variables": variables})
    r = invoke(lam, second, LogType="Tail")
    assert r.function_error is None, r
    assert r.json == "from vendor", r


def test_flint_concurrency_shows_environments_by_state(make_server):
    server = make_server()
    lam = server.client()
    name = unique("envs")
    create_function(lam, name, {"index.py": PY_ECHO})
    assert invoke(lam, name, {"a": 1}).json == {"a": 1}
    view = await_prespawned(server)
    out = subprocess.run([flint_bin(), "concurrency", "--endpoint", server.endpoint],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (f"environments: {view['Idle']} idle, {view['Prespawned']} pre-spawned and waiting "
            f"for a cold start (0 being prepared)") in out.stdout, out.stdout
    assert view["Idle"] == 1, view
