"""Helpers of the Invoke suite (server process, clients, zips, invoking, REPORT
parsing). tests/invoke is a package (`from .invoke_support import ...`): the
project runs tests/blackbox and tests/invoke in one pytest session, and
tests/blackbox imports its helpers as the top-level module `conftest`, which a
second top-level conftest would replace.

Binaries: $FLINT_BIN (else `$CARGO_TARGET_DIR/debug/flint`, else
`<repo>/target/debug/flint`); the Rust test functions of
`crates/flint-test-functions` from $FLINT_TEST_FUNCTIONS_DIR (default
`$CARGO_TARGET_DIR/debug`, else the directory of the flint binary).
"""

import base64
import glob
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
import uuid
import zipfile

import boto3
import pytest
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flint-invoke-test"
DUMMY_CREDS = {
    "AWS_ACCESS_KEY_ID": "AKIAFLINTINVOKETEST0",
    "AWS_SECRET_ACCESS_KEY": "flint-invoke-test-secret",
}
READ_TIMEOUT = 90
# The managed runtimes' AWS SDKs, installed once for the suite by `flint runtime-sdk install`
# (conftest.py) and given to every server the suite starts.
RUNTIME_SDK_DIR = os.path.join(HERE, ".cache", "runtime-sdk")


def function_arn(name, qualifier=None):
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def flint_bin():
    env = os.environ.get("FLINT_BIN")
    if env:
        return env
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "debug", "flint"))
    candidates.append(os.path.join(REPO, "target", "debug", "flint"))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return candidates[0]


def functions_dir():
    env = os.environ.get("FLINT_TEST_FUNCTIONS_DIR")
    if env:
        return env
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.path.join(os.environ["CARGO_TARGET_DIR"], "debug")
    return os.path.dirname(flint_bin())


def function_binary(name):
    """Path of a built binary of crates/flint-test-functions (fails loudly if absent)."""
    path = os.path.join(functions_dir(), name)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"test function binary {path!r} not found: run `cargo build -p flint-test-functions` "
            "or point FLINT_TEST_FUNCTIONS_DIR at its directory"
        )
    return path


_ZIPS = {}


def rust_bootstrap_zip(name):
    """A deployment zip with the test function `name` as a 0755 `bootstrap`
    (debug info stripped when `strip` exists: 30 MB -> a few MB); built once."""
    if name not in _ZIPS:
        import shutil
        import tempfile
        src = function_binary(name)
        with tempfile.TemporaryDirectory() as tmp:
            dst = os.path.join(tmp, "bootstrap")
            shutil.copyfile(src, dst)
            if shutil.which("strip"):
                subprocess.run(["strip", "--strip-debug", dst], check=False)
            with open(dst, "rb") as f:
                _ZIPS[name] = make_zip({"bootstrap": (f.read(), 0o755)})
    return _ZIPS[name]


# --------------------------------------------------------------------------
# The server


# Each `flint serve` keeps its environments' cgroups under its own parent
# (`flint/<instance>`, derived from its data directory), so servers on one host
# never touch each other's environments. The suite runs on that real layout by
# default; FLINT_TEST_ISOLATE_CGROUPS=1 additionally runs each server in its own
# mount namespace where `<hierarchy>/flint` is a bind mount of a private
# `<hierarchy>/flint-invoke-<tag>` cgroup (useful to keep a debugging session's
# leftovers apart).
CGROUP_ROOT = "/sys/fs/cgroup"
ISOLATE = (os.environ.get("FLINT_TEST_ISOLATE_CGROUPS", "0") == "1"
           and bool(__import__("shutil").which("unshare")))


def cgroup_hierarchies():
    """Mount points where flint creates its `flint/` parent."""
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return [CGROUP_ROOT]  # pure cgroup v2
    return [os.path.join(CGROUP_ROOT, h) for h in ("memory", "cpu", "pids", "freezer", "unified")
            if os.path.isdir(os.path.join(CGROUP_ROOT, h))]


def cgroup_parents(tag):
    """The directories that stand for `flint/` in each hierarchy."""
    name = f"flint-invoke-{tag}" if tag else "flint"
    return [os.path.join(h, name) for h in cgroup_hierarchies()]


def isolated_command(argv, tag):
    lines = ["set -e"]
    for h in cgroup_hierarchies():
        private = os.path.join(h, f"flint-invoke-{tag}")
        shared = os.path.join(h, "flint")
        lines.append(f"mkdir -p '{private}' '{shared}' && mount --bind '{private}' '{shared}'")
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines),
            "flint-serve", *argv]


def remove_cgroup_parents(tag):
    """rmdir the private parents of `tag` (they must be empty by now)."""
    for d in cgroup_parents(tag):
        try:
            os.rmdir(d)
        except FileNotFoundError:
            pass
        except OSError:
            pass  # still in use (left-overs are asserted by test_leaks.py)


def rescue_environments(parents, timeout=15):
    """Kills every process left in env-* cgroups under `parents` and removes the
    cgroups; returns how many processes had to be killed. Test hygiene after a
    server failed to clean up (lifts the CPU quota first: throttled processes
    cannot even die)."""
    killed = set()
    deadline = time.time() + timeout
    while True:
        envs = []
        for parent in parents:
            envs += [os.path.join(parent, e) for e in os.listdir(parent)
                     if e.startswith("env-")] if os.path.isdir(parent) else []
        pids = set()
        for env in envs:
            quota = os.path.join(env, "cpu.cfs_quota_us")
            if os.path.exists(quota):
                try:
                    with open(quota, "w") as f:
                        f.write("-1")
                except OSError:
                    pass
            try:
                with open(os.path.join(env, "cgroup.procs")) as f:
                    pids |= {int(x) for x in f.read().split()}
            except OSError:
                pass
            state = os.path.join(env, "freezer.state")
            if os.path.exists(state):
                try:
                    with open(state, "w") as f:
                        f.write("THAWED")
                except OSError:
                    pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        if not pids:
            for env in envs:
                try:
                    os.rmdir(env)
                except OSError:
                    pass
            return len(killed)
        if time.time() > deadline:
            return len(killed)
        time.sleep(0.2)


class FlintServer:
    """One `flint serve` on a free loopback port with its own data dir."""

    def __init__(self, data_dir, log_path, cgroup_tag=None, extra_args=(), extra_env=None):
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = None
        self.endpoint = None
        self.port = None
        self.cgroup_tag = (cgroup_tag or uuid.uuid4().hex[:8]) if ISOLATE else None

    def cgroup_parents(self):
        """Where this server's env-* cgroups live, as seen from the host."""
        return cgroup_parents(self.cgroup_tag)

    def start(self, timeout=30):
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env["FLINT_LOG"] = os.environ.get("FLINT_TEST_LOG", "info")
        for k in ("FLINT_LISTEN", "FLINT_DATA_DIR", "FLINT_CONFIG", "FLINT_PUBLIC_URL",
                  "FLINT_REGION", "FLINT_ACCOUNT_ID", "FLINT_ACCOUNT_CONCURRENCY"):
            env.pop(k, None)
        env["FLINT_RUNTIME_SDK_DIR"] = RUNTIME_SDK_DIR
        env.update(self.extra_env)
        argv = [flint_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                *self.extra_args]
        if self.cgroup_tag:
            argv = isolated_command(argv, self.cgroup_tag)
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=self.data_dir,
            env=env,
            # Own session: signals to the suite's process group do not reach it.
            start_new_session=True,
        )
        log.close()
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        line = box[0].decode() if box else ""
        m = re.match(r"flint listening on (http://127\.0\.0\.1:(\d+))\s*$", line)
        if not m:
            self.kill()
            raise RuntimeError(f"flint did not start (first line {line!r}):\n{self.log()[-4000:]}")
        self.endpoint, self.port = m.group(1), int(m.group(2))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self.endpoint

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"flint did not stop within {timeout}s of SIGTERM")
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self):
        return lambda_client(self.endpoint)


def new_server(tmp_path_factory, name="flint-invoke", cgroup_tag=None, extra_args=(),
               extra_env=None):
    root = tmp_path_factory.mktemp(name)
    data = root / "data"
    data.mkdir()
    s = FlintServer(str(data), str(root / "server.log"), cgroup_tag, extra_args, extra_env)
    s.start()
    return s


def finish_server(s):
    try:
        s.stop()
    finally:
        s.kill()
        if s.cgroup_tag:
            rescue_environments(s.cgroup_parents())
            remove_cgroup_parents(s.cgroup_tag)


# --------------------------------------------------------------------------
# Clients


def lambda_client(endpoint):
    cfg = Config(
        region_name=REGION,
        retries={"max_attempts": 1, "mode": "standard"},
        read_timeout=READ_TIMEOUT,
        connect_timeout=10,
    )
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"],
        config=cfg,
    )


# --------------------------------------------------------------------------
# Packages and functions


def make_zip(files):
    """A deployment zip from {path: content} or {path: (content, mode)}.

    Unix modes are stored in the entries' external attributes, as `zip`
    does; a plain content gets 0755 when it starts with `#!` or is named
    `bootstrap`, else 0644.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, spec in sorted(files.items()):
            content, mode = spec if isinstance(spec, tuple) else (spec, None)
            if isinstance(content, str):
                content = content.encode()
            if mode is None:
                executable = content.startswith(b"#!") or os.path.basename(path) == "bootstrap"
                mode = 0o755 if executable else 0o644
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix: the high 16 bits are st_mode
            info.external_attr = (stat.S_IFREG | mode) << 16
            z.writestr(info, content)
    return buf.getvalue()


def zip_dir(root, extra=None, prefix=""):
    """Zips a directory tree (under `prefix` in the zip) keeping each file's mode;
    `extra` as in make_zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                rel = os.path.join(prefix, os.path.relpath(full, root))
                info = zipfile.ZipInfo(rel, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = (stat.S_IFREG | (os.stat(full).st_mode & 0o777)) << 16
                with open(full, "rb") as f:
                    z.writestr(info, f.read())
        for path, spec in sorted((extra or {}).items()):
            content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | mode) << 16
            z.writestr(info, content.encode() if isinstance(content, str) else content)
    return buf.getvalue()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_active(client, name, timeout=30):
    deadline = time.time() + timeout
    while True:
        cfg = client.get_function_configuration(FunctionName=name)
        if cfg.get("State") == "Active" and cfg.get("LastUpdateStatus") in (None, "Successful"):
            return cfg
        if time.time() > deadline:
            raise AssertionError(f"{name} not Active after {timeout}s: {cfg}")
        time.sleep(0.05)


def create_function(client, name, files=None, zip_bytes=None, runtime="python3.11",
                    handler="index.handler", **kw):
    if zip_bytes is None:
        zip_bytes = make_zip(files)
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": zip_bytes},
        **kw,
    )
    return wait_active(client, name)


# --------------------------------------------------------------------------
# Invoking


class Result:
    """A decoded Invoke response."""

    def __init__(self, resp):
        self.raw = resp
        self.status = resp["StatusCode"]
        self.body = resp["Payload"].read() if "Payload" in resp else b""
        self.function_error = resp.get("FunctionError")
        self.executed_version = resp.get("ExecutedVersion")
        lr = resp.get("LogResult")
        self.log = base64.b64decode(lr).decode(errors="replace") if lr else None
        self.headers = resp["ResponseMetadata"]["HTTPHeaders"]

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return (f"Result(status={self.status}, error={self.function_error!r}, "
                f"version={self.executed_version!r}, body={self.body[:2000]!r}, log={self.log!r})")


def invoke(client, name, event=None, payload=None, **kw):
    if payload is None:
        payload = json.dumps({} if event is None else event)
    return Result(client.invoke(FunctionName=name, Payload=payload, **kw))


def report_line(log):
    lines = [line for line in log.splitlines() if line.startswith("REPORT RequestId:")]
    assert len(lines) == 1, log
    return lines[0]


def report_fields(log):
    """REPORT's tab-separated fields as {name: value}."""
    line = report_line(log)
    assert line.endswith("\t"), f"REPORT must end with a tab: {line!r}"
    fields = {}
    for part in line.rstrip("\t").split("\t"):
        k, _, v = part.partition(": ")
        fields[k] = v
    return fields


def assert_server_healthy(client, name):
    """The server still runs `name` (a trivial healthy function) correctly."""
    r = invoke(client, name, {"ping": 1})
    assert r.status == 200 and r.function_error is None, r
    assert r.json == {"ping": 1}, r


PY_ECHO = "def handler(event, context):\n    return event\n"


def processes_with_env(marker):
    """Host pids whose environment contains `marker` (e.g. AWS_LAMBDA_FUNCTION_NAME=<name>)."""
    found = []
    needle = marker.encode() + b"\0"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read() + b"\0"
        except OSError:
            continue
        if b"\0" + needle in b"\0" + env:
            found.append(int(pid))
    return found


def function_processes(names):
    pids = []
    for n in names:
        pids += processes_with_env(f"AWS_LAMBDA_FUNCTION_NAME={n}")
    return pids


def host_has(runtime):
    """Whether this host has an interpreter of `runtime`'s version, found independently of
    flint: `python3.N` / pyenv installs for Python, `node` on PATH for Node.js."""
    if runtime.startswith("python3."):
        minor = runtime.removeprefix("python3.")
        root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
        pyenv = glob.glob(os.path.join(root, "versions", f"3.{minor}.*", "bin", "python3"))
        which = shutil.which(f"python3.{minor}")
        return bool(pyenv) or (which is not None and "shims" not in which)
    node = shutil.which("node")
    if node is None:
        return False
    out = subprocess.run([node, "-p", "process.versions.node"], capture_output=True, text=True)
    return out.stdout.split(".")[0] == runtime.removeprefix("nodejs").removesuffix(".x")
