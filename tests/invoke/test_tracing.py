"""The request id and the X-Ray trace of an invocation, as callers and functions see them:
boto3's `ResponseMetadata.RequestId` of `Invoke` and `InvokeWithResponseStream` is the id the
function's context, `LogResult` and START/END/REPORT carry (flint's managed runtimes, the Rust
`lambda_runtime` crate, `awslambdaric`); every invocation carries
`Lambda-Runtime-Trace-Id` (`_X_AMZN_TRACE_ID` in the managed runtimes, `xray_trace_id` in the
Rust context); a caller's `X-Amzn-Trace-Id` (an Invoke header, a function URL request) is
continued; `TracingConfig` decides `Sampled`; the X-Ray variables are set."""

import base64
import json
import re

from .invoke_support import invoke, rust_bootstrap_zip
from .test_custom_runtimes import awslambdaric_dir, ric_zip  # noqa: F401 (a fixture)
from .test_function_urls import call, public_url

# The lineage of recursive loop detection (flint-invoke's recursion.rs) rides at the end.
TRACE = re.compile(r"^Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=([01])"
                   r"(?:;Lineage=[0-9a-f]{8}:[0-9]+(?:\|[0-9a-f]{8}:[0-9]+)*)?$")
CALLER_ROOT = "1-5759e988-bd862e3fe1be46a994272793"

PY = """
import os
def handler(event, context):
    print("inside", context.aws_request_id)
    return {"request_id": context.aws_request_id,
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            "env": {k: v for k, v in os.environ.items() if "XRAY" in k}}
"""

NODE_STREAM = """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType("application/json");
  responseStream.write(JSON.stringify({request_id: context.awsRequestId,
                                       trace: process.env._X_AMZN_TRACE_ID}));
  responseStream.end();
});
"""


def request_id(resp):
    return resp["ResponseMetadata"]["RequestId"]


def log_ids(log):
    """The request ids of the START, END and REPORT lines of one invocation's log."""
    ids = {}
    for line in log.splitlines():
        for kind in ("START", "END", "REPORT"):
            if line.startswith(f"{kind} RequestId: "):
                ids[kind] = line.split()[2]
    return ids


def with_trace_header(client, value):
    """`client` sending `X-Amzn-Trace-Id: value` with every Invoke (botocore sets it itself
    only inside a Lambda function, from `_X_AMZN_TRACE_ID`)."""

    def add(request, **_):
        request.headers["X-Amzn-Trace-Id"] = value

    client.meta.events.register("before-sign.lambda.*", add)
    return client


def test_the_request_id_boto3_reports_is_the_invocations(lam, fn):
    name = fn("reqid", {"index.py": PY})
    for _ in range(2):  # cold, then warm
        r = invoke(lam, name, {}, LogType="Tail")
        assert r.status == 200 and r.function_error is None, r
        rid = request_id(r.raw)
        assert r.json["request_id"] == rid, (rid, r)
        assert log_ids(r.log) == {"START": rid, "END": rid, "REPORT": rid}, r.log
        assert f"inside {rid}" in r.log


def test_a_function_error_carries_the_invocations_request_id(lam, fn):
    name = fn("reqid-err", {"index.py": "def handler(e, c):\n    raise ValueError(c.aws_request_id)\n"})
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.function_error == "Unhandled", r
    assert r.json["errorMessage"] == request_id(r.raw) == r.json["requestId"], r
    assert log_ids(r.log)["REPORT"] == request_id(r.raw)


def test_the_rust_runtime_client_sees_the_request_id_and_a_trace(lam, fn):
    name = fn("reqid-rust", zip_bytes=rust_bootstrap_zip("echo"), runtime="provided.al2023",
              handler="not.used")
    r = invoke(lam, name, {"x": 1}, LogType="Tail")
    assert r.status == 200, r
    ctx = r.json["context"]
    assert ctx["request_id"] == request_id(r.raw), r
    assert log_ids(r.log)["END"] == request_id(r.raw)
    assert TRACE.match(ctx["xray_trace_id"] or ""), ctx


def test_awslambdaric_sees_the_request_id(lam, fn, awslambdaric_dir):
    name = fn("reqid-ric", zip_bytes=ric_zip(awslambdaric_dir), runtime="provided.al2023",
              handler="app.handler")
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.json["request_id"] == request_id(r.raw) == log_ids(r.log)["START"], r


def test_a_streamed_invocation_reports_its_own_request_id(lam, fn):
    name = fn("reqid-stream", {"index.mjs": NODE_STREAM}, runtime="nodejs20.x",
              handler="index.handler")
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}", LogType="Tail")
    body, complete = b"", None
    for event in resp["EventStream"]:
        body += event.get("PayloadChunk", {}).get("Payload", b"")
        complete = event.get("InvokeComplete", complete)
    rid = request_id(resp)
    out = json.loads(body)
    assert out["request_id"] == rid, (rid, out)
    log = base64.b64decode(complete["LogResult"]).decode()
    assert log_ids(log) == {"START": rid, "END": rid, "REPORT": rid}, log
    assert TRACE.match(out["trace"]), out


def test_each_invocation_has_a_trace_and_passthrough_does_not_sample(lam, fn):
    name = fn("trace", {"index.py": PY})
    first, second = invoke(lam, name).json, invoke(lam, name).json
    for out in (first, second):
        m = TRACE.match(out["trace"] or "")
        assert m and m.group(3) == "0", out
    # A new trace per invocation, not one per environment.
    assert TRACE.match(first["trace"]).group(1) != TRACE.match(second["trace"]).group(1)
    assert first["env"] == {
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.100.1:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.100.1",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }, first


def test_active_tracing_samples_and_reports_the_trace_after_report(lam, fn):
    name = fn("trace-active", {"index.py": PY}, TracingConfig={"Mode": "Active"})
    r = invoke(lam, name, LogType="Tail")
    trace = TRACE.match(r.json["trace"])
    assert trace.group(3) == "1", r
    lines = r.log.splitlines()
    assert lines[-2].startswith("REPORT RequestId: "), lines
    assert lines[-1] == (f"XRAY TraceId: {trace.group(1)}\tSegmentId: {trace.group(2)}"
                         "\tSampled: true"), lines
    # Not sampled: no XRAY line.
    plain = fn("trace-plain", {"index.py": PY})
    assert invoke(lam, plain, LogType="Tail").log.splitlines()[-1].startswith("REPORT ")


def test_a_callers_trace_is_continued(server, fn):
    name = fn("trace-caller", {"index.py": PY})
    sampled = with_trace_header(server.client(),
                                f"Root={CALLER_ROOT};Parent=53995c3f42cd8ad8;Sampled=1")
    m = TRACE.match(invoke(sampled, name).json["trace"])
    assert m and m.group(1) == CALLER_ROOT and m.group(3) == "1", m
    assert m.group(2) != "53995c3f42cd8ad8", "the invocation is a new segment of the trace"
    # No decision upstream: PassThrough does not sample.
    undecided = with_trace_header(server.client(), f"Root={CALLER_ROOT}")
    m = TRACE.match(invoke(undecided, name).json["trace"])
    assert m and m.group(1) == CALLER_ROOT and m.group(3) == "0", m


def test_a_function_url_event_carries_the_trace_it_continues(lam, fn):
    name = fn("trace-url", {"index.py": """
import os
def handler(event, context):
    return {"header": event["headers"].get("x-amzn-trace-id"),
            "trace": os.environ.get("_X_AMZN_TRACE_ID")}
"""})
    url = public_url(lam, name)["FunctionUrl"]
    out = call(url, "/", by="path").json()
    header, trace = out["header"], TRACE.match(out["trace"])
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", header or ""), out
    assert trace and f"Root={trace.group(1)}" == header, out
    caller = f"Root={CALLER_ROOT};Sampled=1"
    out = call(url, "/", by="path", headers={"X-Amzn-Trace-Id": caller}).json()
    assert out["header"] == caller, out
    trace = TRACE.match(out["trace"])
    assert trace.group(1) == CALLER_ROOT and trace.group(3) == "1", out
