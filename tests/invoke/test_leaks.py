"""No sandbox process and no per-environment cgroup outlives its function or
the server; two servers on one host leave each other's environments alone."""

import glob
import os
import time

import pytest

from .invoke_support import (create_function, function_processes, invoke, report_fields,
                            rust_bootstrap_zip, unique)

PY = "import time\ndef handler(event, context):\n    return 'py'\n"
NODE = "exports.handler = async () => 'node';\n"


def env_cgroups(srv):
    """Per-environment cgroup directories (`env-<server pid>-<n>`) of one server, in
    every hierarchy it uses (v1 controllers, the hybrid `unified` mount, or pure v2)."""
    out = []
    for parent in srv.cgroup_parents():
        # `flint/<instance>/env-*`: each server has its own parent under `flint/`.
        for pattern in (f"env-{srv.proc.pid}-*", f"*/env-{srv.proc.pid}-*"):
            out += [d for d in glob.glob(os.path.join(parent, pattern)) if os.path.isdir(d)]
    return sorted(set(out))


def cgroup_procs(d):
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [l for l in f.read().split() if l]
    except OSError:
        return []


def wait_until(pred, timeout=10):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > deadline:
            return v
        time.sleep(0.1)


def deploy_and_warm(lam, names_out):
    """Three functions on three runtimes, each with one warm environment."""
    specs = [
        ("leak-py", {"index.py": PY}, "python3.11", "index.handler"),
        ("leak-node", {"index.js": NODE}, "nodejs20.x", "index.handler"),
    ]
    for prefix, files, runtime, handler in specs:
        name = unique(prefix)
        create_function(lam, name, files, runtime=runtime, handler=handler)
        names_out.append(name)
        assert invoke(lam, name).function_error is None
    name = unique("leak-rust")
    create_function(lam, name, zip_bytes=rust_bootstrap_zip("echo"),
                    runtime="provided.al2023", handler="x")
    names_out.append(name)
    assert invoke(lam, name).function_error is None


def test_delete_function_and_sigterm_leave_nothing(make_server):
    srv = make_server()
    lam = srv.client()
    names = []
    deploy_and_warm(lam, names)
    # Warm environments exist: processes and cgroups are there.
    assert len(set(function_processes(names))) >= 3, function_processes(names)
    assert env_cgroups(srv), "expected per-environment cgroups under .../flint/env-<pid>-*"

    # DeleteFunction destroys that function's environments.
    doomed = names[:2]
    for n in doomed:
        lam.delete_function(FunctionName=n)
    wait_until(lambda: not function_processes(doomed))
    assert not function_processes(doomed), f"processes of deleted functions remain: {function_processes(doomed)}"
    assert function_processes(names[2:]), "the other function's environment must stay warm"

    # SIGTERM: clean exit, nothing left behind.
    rc = srv.stop()
    assert rc == 0, rc
    wait_until(lambda: not function_processes(names), timeout=2)
    assert not function_processes(names), function_processes(names)
    assert not env_cgroups(srv), env_cgroups(srv)


def test_idle_environment_count_after_many_invokes(make_server):
    """Sequential invokes reuse one environment: no process pile-up."""
    srv = make_server()
    lam = srv.client()
    name = unique("leak-seq")
    create_function(lam, name, {"index.py": PY})
    for _ in range(15):
        assert invoke(lam, name).json == "py"
    pids = function_processes([name])
    # One environment: its init, the interpreter (and nothing per invoke).
    assert 1 <= len(pids) <= 3, pids
    # Besides it, only pre-spawned, unclaimed environments (init, and for Python the
    # pre-started interpreter waiting for a function), at most the default 2 per shape.
    cgs = env_cgroups(srv)
    envs = {os.path.basename(d) for d in cgs}
    assert len(envs) <= 3, cgs
    in_use = {os.path.basename(d) for d in cgs if {int(p) for p in cgroup_procs(d)} & set(pids)}
    assert len(in_use) == 1, (in_use, pids)
    srv.stop()
    assert not function_processes([name])


def test_second_server_leaves_first_servers_environments_alone(make_server):
    """Two `flint serve` on one host: starting the second must not kill the
    first one's warm environments (each server has its own data dir)."""
    tag = unique("two").replace("-", "")
    a = make_server(cgroup_tag=tag)
    lam = a.client()
    name = unique("two-servers")
    create_function(lam, name, {"index.py": "N = 0\ndef handler(e, c):\n    global N\n    N += 1\n    return N\n"})
    assert invoke(lam, name).json == 1
    b = make_server(cgroup_tag=tag)  # both under the host's `flint/` cgroup parent
    try:
        r = invoke(lam, name, LogType="Tail")
        assert r.function_error is None, r
        assert r.json == 2 and "Init Duration" not in report_fields(r.log), r
    finally:
        b.stop()


def test_kill_9_of_the_server_leaves_no_environment_even_a_frozen_one(make_server):
    """SIGKILL gives flint no chance to clean up, and a process in a frozen cgroup does not
    die of its parent-death signal until thawed: flint's spawn helper, which outlives flint
    for that moment, kills and removes what flint left."""
    srv = make_server()
    lam = srv.client()
    names = []
    deploy_and_warm(lam, names)
    time.sleep(1.0)  # idle environments are frozen after 200 ms
    frozen = []
    for d in env_cgroups(srv):
        state = os.path.join(d, "freezer.state")
        if os.path.exists(state):
            with open(state) as f:
                frozen.append(f.read().strip())
        elif os.path.exists(os.path.join(d, "cgroup.freeze")):
            with open(os.path.join(d, "cgroup.freeze")) as f:
                frozen.append("FROZEN" if f.read().strip() == "1" else "THAWED")
    assert "FROZEN" in frozen, f"expected frozen idle environments: {frozen}"
    srv.kill()
    assert wait_until(lambda: not function_processes(names), timeout=10), \
        f"environments outlived a kill -9 of flint: {function_processes(names)}"
    assert wait_until(lambda: not env_cgroups(srv), timeout=10), env_cgroups(srv)
