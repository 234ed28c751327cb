"""Helpers of the black-box suite: the `flint serve` process, boto3 and AWS
CLI clients pointed at it, deployment packages, error assertions.

The binary is taken from $FLINT_BIN, else `$CARGO_TARGET_DIR/debug/flint`,
else `<repo>/target/debug/flint`.
"""

import atexit
import base64
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
import zipfile

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/flint-test"
DUMMY_CREDS = {
    "AWS_ACCESS_KEY_ID": "AKIAFLINTTEST0000000",
    "AWS_SECRET_ACCESS_KEY": "flint-test-secret",
}


# Keep the developer's AWS setup (profiles, config files, endpoint
# overrides) out of the clients this suite builds.
for _k in [k for k in os.environ if k.startswith(("AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                                                   "AWS_ENDPOINT_URL"))]:
    del os.environ[_k]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def function_arn(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def flint_bin():
    """Path of the server binary, or None with the places looked at."""
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


# --------------------------------------------------------------------------
# The server process


_CLIENTS = {}
_STARTED = []


@atexit.register
def _kill_leftover_servers():
    """Servers run in their own sessions, so make sure none outlives pytest."""
    for s in _STARTED:
        try:
            s.kill()
        except Exception:  # noqa: BLE001
            pass


def cluster_backend_args():
    """`flint serve` flags for the storage backends of this run.

    By default none: SQLite and files in the server's data dir. With
    FLINT_BB_CLUSTER=1 every server (a fresh, empty one for each FlintServer,
    the same one across its restarts) keeps its metadata in a database of its
    own on the PostgreSQL at FLINT_TEST_POSTGRES_URL (an admin URL, as
    scripts/services/postgres prints) and its code under a prefix of its own
    in the bucket of FLINT_TEST_S3_URL (credentials from AWS_ACCESS_KEY_ID /
    AWS_SECRET_ACCESS_KEY, as scripts/services/garage exports). FLINT_SERVE_ARGS
    adds further flags (split like a shell would) to every server.
    """
    import shlex
    args = shlex.split(os.environ.get("FLINT_SERVE_ARGS", ""))
    if os.environ.get("FLINT_BB_CLUSTER") != "1":
        return args
    admin = os.environ.get("FLINT_TEST_POSTGRES_URL")
    s3 = os.environ.get("FLINT_TEST_S3_URL")
    if not admin or not s3:
        raise RuntimeError("FLINT_BB_CLUSTER=1 needs FLINT_TEST_POSTGRES_URL and FLINT_TEST_S3_URL")
    name = "flint_bb_" + uuid.uuid4().hex[:16]
    subprocess.run(["psql", admin, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True, timeout=30)
    base, _ = admin.rsplit("/", 1)
    bucket, _, query = s3[len("s3://"):].partition("?")
    return [*args, "--metadata-url", f"{base}/{name}",
            "--blob-url", f"s3://{bucket.rstrip('/')}/{name}?{query}"]


class FlintServer:
    """One `flint serve` process on a free port with its own data dir."""

    def __init__(self, data_dir, log_path):
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc = None
        self.endpoint = None
        # More `flint serve` flags (e.g. ["--auth", "sigv4"]).
        self.extra_args = []
        # Flags every server of this run gets: the cluster backends.
        self.backend_args = cluster_backend_args()

    def start(self, timeout=20):
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.setdefault("FLINT_LOG", "info")
        # Server settings come from the flags alone (FLINT_LOG and FLINT_BIN stay).
        for k in [k for k in env if k.startswith("FLINT_") and k not in ("FLINT_LOG", "FLINT_BIN")]:
            env.pop(k)
        self.proc = subprocess.Popen(
            [flint_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             *self.backend_args, *self.extra_args],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=self.data_dir,  # keep a stray ./flint.toml out of the picture
            env=env,
            # Own session: a signal meant for the suite's process group (or
            # sent to a group by another server's helpers) does not reach it.
            start_new_session=True,
        )
        _STARTED.append(self)
        log.close()
        line_box = []

        def read_first_line():
            line_box.append(self.proc.stdout.readline())

        t = threading.Thread(target=read_first_line, daemon=True)
        t.start()
        t.join(timeout)
        line = line_box[0].decode() if line_box else ""
        m = re.match(r"flint listening on (http://127\.0\.0\.1:\d+)\s*$", line)
        if not m:
            self.kill()
            with open(self.log_path, "rb") as f:
                err = f.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"flint did not start (first stdout line {line!r}); stderr:\n{err}")
        self.endpoint = m.group(1)
        # Drain the rest of stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self.endpoint

    def stop(self, timeout=15):
        """SIGTERM and wait: a clean shutdown."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("flint did not stop within %ss of SIGTERM" % timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        """SIGKILL: a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        key = (self.endpoint, tuple(sorted(kw.items())))
        if key not in _CLIENTS:
            _CLIENTS[key] = lambda_client(self.endpoint, **kw)
        return _CLIENTS[key]


# --------------------------------------------------------------------------
# Clients


_SESSION = None


def boto_session():
    """One boto3 session for the run: loading the Lambda model once keeps
    client creation cheap."""
    global _SESSION
    if _SESSION is None:
        _SESSION = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
    return _SESSION


def lambda_client(endpoint, validate=True, **config):
    opts = dict(
        region_name=REGION,
        retries={"max_attempts": 1, "mode": "standard"},
        parameter_validation=validate,
        connect_timeout=5,
        read_timeout=120,
    )
    opts.update(config)
    cfg = Config(**opts)
    return boto_session().client("lambda", endpoint_url=endpoint, config=cfg)


def aws_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_CREDS)
    env.update({
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_PAGER": "",
    })
    return env


class CliResult:
    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else None


def run_aws(endpoint, *args, check=True, cwd=None, timeout=120):
    """`aws --endpoint-url <endpoint> lambda <args>` (AWS CLI v1 of this Python)."""
    cmd = [sys.executable, "-m", "awscli", "--endpoint-url", endpoint, "--region", REGION,
           "--output", "json", "lambda", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=aws_env(), cwd=cwd,
                          timeout=timeout)
    res = CliResult(proc)
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return res


def run_flint_cli(endpoint, *args, timeout=60, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLINT_")}
    cmd = [flint_bin(), "function", *args, "--endpoint", endpoint]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)


# --------------------------------------------------------------------------
# Packages and names


FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def make_zip(files=None, compression=zipfile.ZIP_DEFLATED):
    """A zip in memory. files: {name: str|bytes}; deterministic bytes."""
    if files is None:
        files = {"index.py": "def handler(event, context):\n    return event\n"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = compression
            info.external_attr = (0o100644 << 16)
            z.writestr(info, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def unique(prefix="fn"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create(client, name, zip_bytes=None, **kw):
    params = dict(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zip_bytes if zip_bytes is not None else make_zip()},
    )
    params.update(kw)
    return client.create_function(**params)


def error_of(exc_info_or_exc):
    """(code, http status, message, response) of a botocore ClientError."""
    e = getattr(exc_info_or_exc, "value", exc_info_or_exc)
    assert isinstance(e, ClientError), e
    r = e.response
    return (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"],
            r["Error"].get("Message", ""), r)


def expect_error(fn, code, status, message=None, contains=None, **kwargs):
    """Calls fn(**kwargs), which must fail with the given code/status/message."""
    with pytest.raises(ClientError) as ei:
        fn(**kwargs)
    c, s, m, r = error_of(ei)
    assert (c, s) == (code, status), f"got {c} {s}: {m!r}"
    if message is not None:
        assert m == message, f"message {m!r} != {message!r}"
    if contains is not None:
        assert contains in m, f"{contains!r} not in {m!r}"
    return m, r


def all_function_names(client, all_versions=False):
    out = []
    kw = {"FunctionVersion": "ALL"} if all_versions else {}
    for page in client.get_paginator("list_functions").paginate(**kw):
        out.extend(f["FunctionArn"] if all_versions else f["FunctionName"]
                   for f in page["Functions"])
    return out


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except FileNotFoundError:
                pass
    return total


def blob_files(data_dir):
    """Relative paths of every file under <data_dir>/blobs."""
    root = os.path.join(data_dir, "blobs")
    out = set()
    for r, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(r, f), root))
    return out


def stored_blob_ids(server):
    """Ids of the packages a server stores: files under <data dir>/blobs, or
    the objects under its prefix in the bucket when it runs on S3."""
    args = server.backend_args
    if "--blob-url" not in args:
        return {os.path.basename(p) for p in blob_files(server.data_dir)}
    import boto3
    from botocore.config import Config
    url = args[args.index("--blob-url") + 1]
    path, _, query = url[len("s3://"):].partition("?")
    bucket, _, prefix = path.partition("/")
    params = dict(kv.split("=", 1) for kv in query.split("&") if kv)
    s3 = boto3.client("s3", endpoint_url=params["endpoint"], region_name=params.get("region"),
                      config=Config(s3={"addressing_style": "path"}))
    out = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        out.update(o["Key"].rsplit("/", 1)[1] for o in page.get("Contents", []))
    return out


# Tests of the embedded backend's files (SQLite's metadata.db, blobs/ in the
# data dir): skipped, with this reason in the summary, when the servers keep
# metadata in PostgreSQL and code in S3 (FLINT_BB_CLUSTER=1), where the
# contract tests of crates/flint-store cover those backends.
embedded_only = pytest.mark.skipif(
    os.environ.get("FLINT_BB_CLUSTER") == "1",
    reason="inspects the embedded backend's files (metadata.db, blobs/); this run is on PostgreSQL + S3")


def download(url):
    return requests.get(url, timeout=30)
