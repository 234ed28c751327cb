"""A function's output is bounded on flint's side: a function printing 200 MB leaves flint's
resident memory flat and its log directory within the retention (16 MB) plus one segment
(4 MB) at every moment, both measured while it prints; a line longer than Lambda's limit
(a CloudWatch Logs event: 256 KB less 26 bytes) is cut into events of that size; the logs
endpoint answers pages and `flint logs` follows them to the end."""

import json
import os
import subprocess
import threading
import time

import requests

from .invoke_support import create_function, flint_bin, invoke, unique

RETENTION = 16 * 1024 * 1024
SEGMENT = RETENTION // 4
MAX_LINE = 256 * 1024 - 26

PRINTER = """
import sys

def handler(event, context):
    block = ("x" * 1023 + "\\n") * 1024
    for _ in range(event["mb"]):
        sys.stdout.write(block)
    sys.stdout.flush()
    if event.get("long"):
        print("y" * event["long"])
    print("done printing", context.aws_request_id)
    return {"ok": True}
"""


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except FileNotFoundError:
                pass  # a segment deleted while we walked
    return total


class Sampler:
    """Samples flint's VmRSS and the function's log directory size every 20 ms."""

    def __init__(self, pid, log_dir):
        self.pid, self.log_dir = pid, log_dir
        self.rss_kb, self.log_bytes, self.samples = 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.rss_kb = max(self.rss_kb, status_kb(self.pid, "VmRSS"))
            self.log_bytes = max(self.log_bytes, dir_bytes(self.log_dir))
            self.samples += 1
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_a_function_printing_200_mb_leaves_flint_and_its_logs_within_bounds(make_server):
    server = make_server()
    lam = server.client()
    name = unique("printer")
    create_function(lam, name, {"index.py": PRINTER}, MemorySize=512, Timeout=300)
    # Warm: the environment, flint's buffers and the log writer exist before the baseline.
    assert invoke(lam, name, {"mb": 4}).status == 200
    pid = server.proc.pid
    baseline_kb = status_kb(pid, "VmRSS")
    log_dir = os.path.join(server.data_dir, "invoke", "logs", name)
    # Reading the logs waits for the log writer: the directory exists from here on.
    requests.get(f"{server.endpoint}/_flint/logs/{name}", timeout=60).raise_for_status()
    assert os.path.isdir(log_dir), os.listdir(os.path.dirname(log_dir))
    with Sampler(pid, log_dir) as sampled:
        r = invoke(lam, name, {"mb": 200}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    assert sampled.samples > 10, sampled.samples
    grown_mb = (sampled.rss_kb - baseline_kb) / 1024
    print(f"flint VmRSS {baseline_kb / 1024:.1f} MB before, peak {sampled.rss_kb / 1024:.1f} MB "
          f"while the function printed 200 MB; log directory peak "
          f"{sampled.log_bytes / 1024 / 1024:.1f} MB ({sampled.samples} samples)")
    assert grown_mb < 40, f"flint's resident memory grew by {grown_mb:.0f} MB"
    assert sampled.log_bytes > RETENTION // 2, "the log directory was not measured"
    assert sampled.log_bytes <= RETENTION + SEGMENT, sampled.log_bytes
    assert dir_bytes(log_dir) <= RETENTION + SEGMENT
    # The log tail still ends with the invocation's own last lines.
    tail = r.log.splitlines()
    rid = r.raw["ResponseMetadata"]["RequestId"]
    assert tail[-3:-1] == [f"done printing {rid}", f"END RequestId: {rid}"], tail[-3:]
    assert tail[-1].startswith(f"REPORT RequestId: {rid}")

    # The endpoint pages (about 1 MB each) and `flint logs` follows every page to the end.
    page = requests.get(f"{server.endpoint}/_flint/logs/{name}", params={"offset": 0},
                        timeout=60)
    assert page.status_code == 200
    assert len(page.content) < 2 * 1024 * 1024, len(page.content)
    body = page.json()
    assert body["more"] is True and body["nextOffset"] > 0, {k: body[k] for k in ("more", "nextOffset")}
    out = subprocess.run([flint_bin(), "logs", name, "--endpoint", server.endpoint],
                         capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) > 10_000, len(lines)
    assert lines[-3:-1] == [f"done printing {rid}", f"END RequestId: {rid}"], lines[-3:]


def test_lines_longer_than_lambdas_limit_are_cut_into_events(lam, fn, server):
    name = fn("longline", {"index.py": PRINTER})
    length = 2 * MAX_LINE + 1000
    r = invoke(lam, name, {"mb": 0, "long": length})
    assert r.status == 200, r
    out = subprocess.run([flint_bin(), "logs", name, "--endpoint", server.endpoint,
                          "--output", "json"],
                         capture_output=True, text=True, timeout=60, check=True)
    messages = [json.loads(line)["message"] for line in out.stdout.splitlines()]
    pieces = [m for m in messages if m and set(m) == {"y"}]
    assert [len(p) for p in pieces] == [MAX_LINE, MAX_LINE, 1000], [len(p) for p in pieces]


def test_the_log_retention_is_the_operators_choice(make_server):
    """`flint serve --log-retention-mb 2`: a function printing 24 MB keeps at most 2 MB plus
    one segment (a quarter of the retention) of log on disk, and the newest lines survive."""
    retention = 2 * 1024 * 1024
    server = make_server(extra_args=["--log-retention-mb", "2"])
    lam = server.client()
    name = unique("retained")
    create_function(lam, name, {"index.py": PRINTER}, MemorySize=512, Timeout=120)
    for _ in range(3):
        r = invoke(lam, name, {"mb": 8})
        assert r.status == 200 and r.function_error is None, r
    requests.get(f"{server.endpoint}/_flint/logs/{name}", timeout=60).raise_for_status()
    log_dir = os.path.join(server.data_dir, "invoke", "logs", name)
    kept = dir_bytes(log_dir)
    assert retention // 2 < kept <= retention + retention // 4, kept
    out = subprocess.run([flint_bin(), "logs", name, "--endpoint", server.endpoint],
                         capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines()[-1].startswith("REPORT RequestId: "), out.stdout[-300:]
