"""Recursive loop detection (issue 14): a Python function that invokes itself with boto3
through flint. botocore sends the function's `_X_AMZN_TRACE_ID` back as `X-Amzn-Trace-Id`
(its recursion-detection handler), flint counts the function in the header's `Lineage`, and
after 16 invocations of one chain the next is stopped (`RecursiveInvocationException` for a
synchronous caller; a queued event goes to its failure destination) unless the function's
RecursiveLoop is `Allow`.

The function must reach flint's API, which a sandbox cannot (by design, test_hostile.py), so
these servers run in the unisolated development mode. boto3 is zipped with the function
(trimmed to the Lambda model) from this Python's site-packages: the managed runtime does not
ship an SDK yet."""

import json
import os
import time
import urllib.request

import boto3
import botocore
import pytest

from .invoke_support import create_function, invoke, unique, zip_dir

NO_ISOLATION = {"FLINT_TEST_NO_ISOLATION": "1"}
LIMIT = 16

SELF_INVOKER = """
import json, os
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# flint runs with --auth open: any credentials sign; the endpoint is AWS_ENDPOINT_URL_LAMBDA.
client = boto3.client("lambda", aws_access_key_id="AKIDFLINTRECURSION",
                      aws_secret_access_key="x" * 40,
                      config=Config(retries={"max_attempts": 1}, read_timeout=600))

def handler(event, context):
    depth = event.get("depth", 1)
    print("DEPTH", depth, os.environ.get("_X_AMZN_TRACE_ID"))
    if depth >= event.get("stop_at", 1000):
        return {"depth": depth, "stopped": None}
    nxt = json.dumps(dict(event, depth=depth + 1))
    try:
        if event.get("mode") == "async":
            client.invoke(FunctionName=context.function_name, InvocationType="Event",
                          Payload=nxt)
            return {"depth": depth, "queued": True}
        r = client.invoke(FunctionName=context.function_name, Payload=nxt)
        return json.loads(r["Payload"].read())
    except ClientError as e:
        return {"depth": depth, "stopped": e.response["Error"]["Code"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "message": e.response["Error"].get("Message")}
"""


def _sdk_files():
    """boto3 and its dependencies from this Python, with botocore's data cut to Lambda."""
    site = os.path.dirname(os.path.dirname(boto3.__file__))
    files = {}
    for pkg in ("boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3"):
        root = os.path.join(site, pkg)
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, site)
            parts = rel.split(os.sep)
            if "__pycache__" in parts:
                continue
            if parts[:2] == ["botocore", "data"] and len(parts) > 2 and parts[2] != "lambda":
                continue
            for fn in filenames:
                with open(os.path.join(dirpath, fn), "rb") as f:
                    files[os.path.join(rel, fn)] = f.read()
    with open(os.path.join(site, "six.py"), "rb") as f:
        files["six.py"] = f.read()
    return files


@pytest.fixture(scope="module")
def sdk_zip(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdk")
    for rel, data in _sdk_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return zip_dir(str(root), extra={"index.py": SELF_INVOKER})


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory):
    from .invoke_support import finish_server, new_server
    s = new_server(tmp_path_factory, "flint-recursion", extra_args=["--unisolated"],
                   extra_env=NO_ISOLATION)
    yield s
    try:
        finish_server(s)
    except AssertionError:
        pass


def _loop_function(lam, endpoint, sdk_zip, prefix):
    name = unique(prefix)
    create_function(lam, name, zip_bytes=sdk_zip, Timeout=300, MemorySize=256,
                    Environment={"Variables": {"AWS_ENDPOINT_URL_LAMBDA": endpoint}})
    return name


def _depths(endpoint, name):
    with urllib.request.urlopen(f"{endpoint}/_flint/logs/{name}?offset=0") as r:
        records = json.load(r)["records"]
    return sorted(int(rec["message"].split()[1]) for rec in records
                  if rec["message"].startswith("DEPTH "))


def test_the_sdk_in_the_function_sends_the_trace_header_back(plain_server, sdk_zip):
    """The precondition of everything below: botocore of this venv forwards
    `_X_AMZN_TRACE_ID` (recent botocore does, given AWS_LAMBDA_FUNCTION_NAME)."""
    assert hasattr(botocore.handlers, "add_recursion_detection_header"), botocore.__version__
    lam = plain_server.client()
    name = _loop_function(lam, plain_server.endpoint, sdk_zip, "rec-hdr")
    r = invoke(lam, name, {"stop_at": 2})
    assert r.function_error is None, r
    assert r.json == {"depth": 2, "stopped": None}, r
    logs = [m for m in _log_messages(plain_server.endpoint, name) if m.startswith("DEPTH ")]
    key_counts = [m.split("Lineage=")[1].strip() for m in logs]
    # The first run is counted once, the one it started twice, under the same key.
    assert sorted(c.split(":")[1] for c in key_counts) == ["1", "2"], logs
    assert len({c.split(":")[0] for c in key_counts}) == 1, logs


def _log_messages(endpoint, name):
    with urllib.request.urlopen(f"{endpoint}/_flint/logs/{name}?offset=0") as r:
        return [rec["message"] for rec in json.load(r)["records"]]


def test_a_synchronous_loop_is_stopped_after_sixteen_invocations(plain_server, sdk_zip):
    lam = plain_server.client()
    name = _loop_function(lam, plain_server.endpoint, sdk_zip, "rec-sync")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    body = r.json
    # Invocations 1..16 ran; the 16th was refused its call of the 17th.
    assert body["depth"] == LIMIT, body
    assert body["stopped"] == "RecursiveInvocationException", body
    assert body["status"] == 400, body
    assert "recursive loop" in body["message"], body
    assert _depths(plain_server.endpoint, name) == list(range(1, LIMIT + 1))


def test_allow_lets_the_loop_run_past_the_limit(plain_server, sdk_zip):
    lam = plain_server.client()
    name = _loop_function(lam, plain_server.endpoint, sdk_zip, "rec-allow")
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    r = invoke(lam, name, {"stop_at": LIMIT + 3})
    assert r.function_error is None, r
    assert r.json == {"depth": LIMIT + 3, "stopped": None}, r
    # Back to Terminate: the same loop stops at the limit again.
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Terminate")
    r = invoke(lam, name, {"stop_at": LIMIT + 3})
    assert r.json["depth"] == LIMIT and r.json["stopped"] == "RecursiveInvocationException", r


def _undelivered(endpoint):
    with urllib.request.urlopen(f"{endpoint}/_flint/events/undelivered") as r:
        return json.load(r)


def test_an_asynchronous_loop_is_stopped_and_the_event_goes_to_its_failure_destination(
        plain_server, sdk_zip):
    lam = plain_server.client()
    name = _loop_function(lam, plain_server.endpoint, sdk_zip, "rec-async")
    failure = "arn:aws:sqs:us-east-1:000000000000:loop-failures"
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failure}})
    r = lam.invoke(FunctionName=name, InvocationType="Event",
                   Payload=json.dumps({"mode": "async"}))
    assert r["StatusCode"] == 202
    deadline = time.time() + 240
    records = []
    while time.time() < deadline:
        records = [u for u in _undelivered(plain_server.endpoint)["Records"]
                   if u.get("Function") == name]
        if records:
            break
        time.sleep(0.5)
    assert records, f"no failure record; depths so far {_depths(plain_server.endpoint, name)}"
    assert records[0]["Kind"] == "OnFailure" and records[0]["Target"] == failure, records
    assert records[0]["Payload"]["requestPayload"]["depth"] == LIMIT + 1, records
    time.sleep(1)
    assert _depths(plain_server.endpoint, name) == list(range(1, LIMIT + 1))


def test_allow_lets_an_asynchronous_loop_continue(plain_server, sdk_zip):
    lam = plain_server.client()
    name = _loop_function(lam, plain_server.endpoint, sdk_zip, "rec-async-allow")
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lam.invoke(FunctionName=name, InvocationType="Event",
               Payload=json.dumps({"mode": "async", "stop_at": LIMIT + 2}))
    deadline = time.time() + 240
    while time.time() < deadline and len(_depths(plain_server.endpoint, name)) < LIMIT + 2:
        time.sleep(0.5)
    assert _depths(plain_server.endpoint, name) == list(range(1, LIMIT + 3))
