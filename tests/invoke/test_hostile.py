"""Hostile functions: each one is contained, gets the Lambda error where one
applies, and the server keeps serving other functions afterwards."""

import errno
import re
import time

import pytest

from .invoke_support import (PY_ECHO, assert_server_healthy, create_function, function_processes,
                            invoke, report_fields, rescue_environments, unique)

REQUEST_ID = re.compile(r"^START RequestId: ([0-9a-f-]{36}) ", re.M)


def request_id(log):
    m = REQUEST_ID.search(log)
    assert m, log
    return m.group(1)


READ_SECRETS = r'''
import os
def handler(event, context):
    out = {}
    for path in ["/etc/shadow", "/etc/gshadow", "/root", "/root/.ssh", "/root/.cargo",
                 "/root/.bash_history", "/home", "/work", event["data_dir"],
                 event["data_dir"] + "/flint.db", "/etc/ssl/private"]:
        try:
            if os.path.isdir(path):
                out[path] = ["listed", os.listdir(path)]
            else:
                with open(path, "rb") as f:
                    out[path] = ["read", len(f.read())]
        except OSError as e:
            out[path] = ["error", e.errno]
    out["uid"] = os.getuid()
    out["root_listing"] = sorted(os.listdir("/"))
    return out
'''


def test_cannot_read_host_secrets_or_data_dir(lam, fn, server, healthy):
    name = fn("hostile-read", {"index.py": READ_SECRETS})
    r = invoke(lam, name, {"data_dir": server.data_dir})
    assert r.function_error is None, r
    out = r.json
    for path in ["/etc/shadow", "/etc/gshadow", "/root/.ssh", "/root/.cargo", "/root/.bash_history",
                 "/home", "/work", server.data_dir, server.data_dir + "/flint.db", "/etc/ssl/private"]:
        kind, detail = out[path]
        assert kind == "error" and detail in (errno.ENOENT, errno.EACCES), (path, out[path])
    # /root exists only when the host's interpreter lives there (pyenv): flint binds
    # that interpreter's directory read-only, and nothing else of /root.
    kind, detail = out["/root"]
    assert kind == "error" or set(detail) <= {".pyenv"}, out["/root"]
    assert out["uid"] != 0, out
    assert "work" not in out["root_listing"], out
    assert_server_healthy(lam, healthy)


LIST_PROCS = r'''
import os
def handler(event, context):
    procs = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    procs[pid] = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError as e:
                procs[pid] = f"<{e.errno}>"
    return {"self": os.getpid(), "procs": procs}
'''


def test_proc_shows_only_the_sandbox(lam, fn, healthy):
    name = fn("hostile-proc", {"index.py": LIST_PROCS})
    r = invoke(lam, name)
    assert r.function_error is None, r
    procs = r.json["procs"]
    assert str(r.json["self"]) in procs
    assert len(procs) <= 4, procs
    assert all(int(p) < 100 for p in procs), procs  # a fresh pid namespace
    others = " ".join(v for p, v in procs.items() if p != "1")
    for host_thing in ["flint serve", "pytest", "cargo", "sshd"]:
        assert host_thing not in others, procs
    assert_server_healthy(lam, healthy)


def test_sandbox_init_does_not_expose_server_command_line(lam, fn, server):
    name = fn("hostile-proc1", {"index.py": LIST_PROCS})
    procs = invoke(lam, name).json["procs"]
    joined = " ".join(procs.values())
    assert server.data_dir not in joined and "flint serve" not in joined, procs


WRITES = r'''
import os
def handler(event, context):
    out = {}
    for path in ["/var/task/new.txt", "/var/task/index.py", "/new.txt", "/usr/new.txt",
                 "/etc/new.txt", "/var/runtime/new.txt", "/opt/new.txt", "/dev/shm/../new.txt"]:
        try:
            with open(path, "a") as f:
                f.write("x")
            out[path] = "written"
        except OSError as e:
            out[path] = e.errno
    with open("/tmp/ok.txt", "w") as f:
        f.write("fine")
    with open("/tmp/ok.txt") as f:
        out["/tmp/ok.txt"] = f.read()
    return out
'''


def test_writes_outside_tmp_fail(lam, fn, healthy):
    name = fn("hostile-write", {"index.py": WRITES})
    r = invoke(lam, name)
    assert r.function_error is None, r
    out = r.json
    assert out.pop("/tmp/ok.txt") == "fine"
    for path, res in out.items():
        assert res in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT), (path, res)
    assert out["/var/task/index.py"] in (errno.EROFS, errno.EACCES), out
    assert out["/usr/new.txt"] in (errno.EROFS, errno.EACCES), out
    assert_server_healthy(lam, healthy)


FILL_TMP = r'''
import errno, os
def handler(event, context):
    chunk = b"\0" * (8 << 20)
    written, err = 0, None
    try:
        with open("/tmp/fill", "wb") as f:
            while written < (2 << 30):
                n = f.write(chunk)
                f.flush()
                written += n
    except OSError as e:
        err = e.errno
    st = os.statvfs("/tmp")
    size = os.path.getsize("/tmp/fill")
    os.remove("/tmp/fill")
    return {"written": written, "size": size, "errno": err, "total": st.f_blocks * st.f_frsize}
'''


def test_fill_tmp_hits_enospc_at_ephemeral_storage(lam, fn, healthy):
    name = fn("hostile-filltmp", {"index.py": FILL_TMP}, MemorySize=1024, Timeout=30,
              EphemeralStorage={"Size": 512})
    r = invoke(lam, name)
    assert r.function_error is None, r
    out = r.json
    assert out["errno"] == errno.ENOSPC, out
    mib = 1 << 20
    assert 500 * mib <= out["size"] <= 512 * mib, out
    # /tmp is an ext4 disk: its total also holds the ~2% ext4 keeps for its own metadata.
    assert 512 * mib <= out["total"] <= 528 * mib, out
    assert_server_healthy(lam, healthy)


ALLOC = r'''
def handler(event, context):
    if event.get("alloc"):
        hog = []
        for i in range(400):
            hog.append(bytearray(10 << 20))
            if i % 5 == 0:
                print("allocated", (i + 1) * 10, "MiB", flush=True)
        return "survived %d MiB" % (len(hog) * 10)
    return "small"
'''


def test_out_of_memory(lam, fn, healthy):
    name = fn("hostile-oom", {"index.py": ALLOC}, MemorySize=128, Timeout=30)
    r = invoke(lam, name, {"alloc": True}, LogType="Tail")
    assert r.status == 200 and r.function_error == "Unhandled", r
    body = r.json
    rid = request_id(r.log)
    assert body["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError"), body
    assert body["errorMessage"] == f"RequestId: {rid} Error: Runtime exited with error: signal: killed", body
    f = report_fields(r.log)
    assert f["Memory Size"] == "128 MB", f
    assert f.get("Status") == "error" and f.get("Error Type") == body["errorType"], f
    assert 100 <= int(f["Max Memory Used"].split()[0]) <= 130, f
    # The environment was reset: the next invoke starts a new one.
    r2 = invoke(lam, name, {}, LogType="Tail")
    assert r2.function_error is None and r2.json == "small", r2
    assert "Init Duration" in report_fields(r2.log), r2.log
    assert_server_healthy(lam, healthy)


def test_out_of_memory_reported_as_runtime_out_of_memory(lam, fn):
    """Lambda reports a function killed at its memory limit as Runtime.OutOfMemory."""
    name = fn("hostile-oom2", {"index.py": ALLOC}, MemorySize=128, Timeout=30)
    r = invoke(lam, name, {"alloc": True})
    assert r.json["errorType"] == "Runtime.OutOfMemory", r


FORK_BOMB = r'''
import os
def handler(event, context):
    if event.get("bomb"):
        while True:  # every process forks and spins: the bomb saturates its CPU quota
            try:
                os.fork()
            except OSError:
                pass
    return "calm"
'''


def test_fork_bomb_is_contained(make_server):
    srv = make_server()
    lam = srv.client()
    name = unique("hostile-forkbomb")
    create_function(lam, name, {"index.py": FORK_BOMB}, MemorySize=128, Timeout=2)
    healthy = unique("forkbomb-neighbour")
    create_function(lam, healthy, {"index.py": PY_ECHO})
    try:
        t0 = time.time()
        r = invoke(lam, name, {"bomb": True}, LogType="Tail")
        elapsed = time.time() - t0
        assert r.status == 200 and r.function_error == "Unhandled", r
        assert r.json["errorType"] in ("Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory"), r
        assert elapsed < 20, elapsed
        assert_server_healthy(lam, healthy)
        # Every process of the bomb is gone shortly after.
        deadline = time.time() + 10
        while function_processes([name]) and time.time() < deadline:
            time.sleep(0.2)
        assert not function_processes([name]), f"{len(function_processes([name]))} processes of the bomb survive"
        r2 = invoke(lam, name, {})
        assert r2.function_error is None and r2.json == "calm", r2
        # A clean, prompt shutdown.
        assert srv.stop(timeout=10) == 0
    finally:
        srv.kill()
        left = rescue_environments(srv.cgroup_parents())
        if left:
            print(f"rescue: killed {left} processes the server left behind")


def test_pids_limit_counts(lam, fn, healthy):
    """Forking stops with EAGAIN at the pids limit instead of taking the host down."""
    code = r'''
import os, time
def handler(event, context):
    kids = []
    err = None
    while len(kids) < 5000:
        try:
            pid = os.fork()
        except OSError as e:
            err = e.errno
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
    for k in kids:
        os.kill(k, 9)
    for k in kids:
        os.waitpid(k, 0)
    return {"forked": len(kids), "errno": err}
'''
    name = fn("hostile-pids", {"index.py": code}, MemorySize=2048, Timeout=60)
    r = invoke(lam, name)
    assert r.function_error is None, r
    assert r.json["errno"] == errno.EAGAIN, r
    assert 10 < r.json["forked"] < 5000, r
    assert_server_healthy(lam, healthy)


LOOP = r'''
import time
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    if event.get("loop"):
        while True:
            pass
    return {"count": COUNT}
'''


def test_timeout(lam, fn, healthy):
    name = fn("hostile-timeout", {"index.py": LOOP}, Timeout=1)
    assert invoke(lam, name).json == {"count": 1}
    t0 = time.time()
    r = invoke(lam, name, {"loop": True}, LogType="Tail")
    elapsed = time.time() - t0
    assert r.status == 200 and r.function_error == "Unhandled", r
    rid = request_id(r.log)
    assert r.json == {"errorType": "Sandbox.Timedout",
                      "errorMessage": f"RequestId: {rid} Error: Task timed out after 1.00 seconds"}, r
    assert 0.9 < elapsed < 15, elapsed
    f = report_fields(r.log)
    assert f.get("Status") == "timeout", f
    assert 1000 <= float(f["Duration"].split()[0]) < 3000, f
    # The environment was reset: the next invoke re-inits (count starts again).
    r2 = invoke(lam, name, {}, LogType="Tail")
    assert r2.function_error is None and r2.json == {"count": 1}, r2
    assert "Init Duration" in report_fields(r2.log), r2.log
    assert_server_healthy(lam, healthy)


CALL_API = r'''
import socket, urllib.request
def handler(event, context):
    out = {}
    for host in ["127.0.0.1", "localhost"]:
        url = f"http://{host}:{event['port']}/2015-03-31/functions/"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                out[host] = ["answered", resp.status]
        except Exception as e:
            out[host] = ["error", type(e).__name__, str(e)]
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", event["port"]))
        out["socket"] = "connected"
    except OSError as e:
        out["socket"] = e.errno
    return out
'''


def test_cannot_reach_flint_api_on_loopback(lam, fn, server, healthy):
    name = fn("hostile-api", {"index.py": CALL_API}, Timeout=20)
    r = invoke(lam, name, {"port": server.port})
    assert r.function_error is None, r
    out = r.json
    assert out["127.0.0.1"][0] == "error", out
    assert out["localhost"][0] == "error", out
    assert out["socket"] in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH), out
    assert_server_healthy(lam, healthy)


def test_exit_status(lam, fn, healthy):
    name = fn("hostile-exit", {"index.py": "import os\ndef handler(event, context):\n    os._exit(3)\n"})
    r = invoke(lam, name, LogType="Tail")
    assert r.status == 200 and r.function_error == "Unhandled", r
    rid = request_id(r.log)
    assert r.json == {"errorType": "Runtime.ExitError",
                      "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: exit status 3"}, r
    f = report_fields(r.log)
    assert f.get("Status") == "error" and f.get("Error Type") == "Runtime.ExitError", f
    assert_server_healthy(lam, healthy)


def test_exit_during_init(lam, fn, healthy):
    name = fn("hostile-initexit", {"index.py": "import os\nos._exit(7)\n"})
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.ExitError", r
    assert r.json["errorMessage"].endswith("Error: Runtime exited with error: exit status 7"), r
    assert_server_healthy(lam, healthy)


def test_killed_by_signal(lam, fn, healthy):
    name = fn("hostile-signal", {"index.py": "import os, signal\ndef handler(e, c):\n    os.kill(os.getpid(), signal.SIGKILL)\n"})
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.ExitError", r
    assert r.json["errorMessage"].endswith("Error: Runtime exited with error: signal: killed"), r
    assert_server_healthy(lam, healthy)
