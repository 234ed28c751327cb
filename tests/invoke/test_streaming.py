"""Response streaming through boto3's `invoke_with_response_stream`: a Node.js function written
with `awslambda.streamifyResponse` streams chunk by chunk (the first arrives while the function
still runs), mid-stream errors and function errors end in `InvokeComplete` with an error code,
a function that does not stream arrives as one chunk, `Tail` logs come with the end, and a
buffered `Invoke` of a streaming function returns the whole body."""

import json
import time

import botocore.exceptions
import pytest

NODE_STREAM = """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType("text/plain");
  responseStream.write("first ");
  await new Promise((r) => setTimeout(r, event.pause_ms ?? 1000));
  responseStream.write("second");
  if (event.fail) {
    throw new Error("broke mid-stream");
  }
  responseStream.end();
});
"""

PY = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no good")
    print("python says hi")
    return {"whole": True}
"""


def read_stream(resp):
    """[(arrival time, chunk bytes)], the InvokeComplete event."""
    chunks, complete = [], None
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append((time.monotonic(), event["PayloadChunk"]["Payload"]))
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    return chunks, complete


def streamer(fn):
    return fn("stream", {"index.mjs": NODE_STREAM}, runtime="nodejs20.x",
              handler="index.handler", Timeout=10)


def test_chunks_arrive_as_the_function_writes_them(lam, fn):
    name = streamer(fn)
    started = time.monotonic()
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"pause_ms": 1500}')
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    chunks, complete = read_stream(resp)
    ended = time.monotonic()
    body = b"".join(c for _, c in chunks)
    assert body == b"first second", chunks
    assert complete is not None and "ErrorCode" not in complete, complete
    # The first chunk came while the function was still pausing.
    first_at = chunks[0][0]
    assert ended - first_at >= 1.2, (first_at - started, ended - started)


def test_a_mid_stream_error_ends_the_stream_with_its_code(lam, fn):
    name = streamer(fn)
    resp = lam.invoke_with_response_stream(
        FunctionName=name, Payload=b'{"pause_ms": 10, "fail": true}')
    chunks, complete = read_stream(resp)
    assert b"".join(c for _, c in chunks).startswith(b"first "), chunks
    assert complete["ErrorCode"], complete
    assert "broke mid-stream" in complete["ErrorDetails"], complete


def test_functions_that_do_not_stream_and_function_errors(lam, fn):
    name = fn("nostream", {"index.py": PY})
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}", LogType="Tail")
    chunks, complete = read_stream(resp)
    assert [c for _, c in chunks] == [b'{"whole": true}']
    import base64
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "python says hi" in log and "REPORT RequestId:" in log
    resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"fail": true}')
    chunks, complete = read_stream(resp)
    assert chunks == []
    assert complete["ErrorCode"] == "ValueError", complete
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "no good"


def test_dry_run_errors_and_buffered_invoke_of_a_streamer(lam, fn):
    name = streamer(fn)
    resp = lam.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName=name + "-missing", Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName=name, Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    r = lam.invoke(FunctionName=name, Payload=b'{"pause_ms": 10}')
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert r["Payload"].read() == b"first second"


NODE_LATE = """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const id = context.awsRequestId;
  responseStream.write("first ");
  console.log("after the first chunk", id);
  await new Promise((r) => setTimeout(r, 300));
  console.log("after the pause", id);
  process.stderr.write(`on stderr ${id}\\n`);
  responseStream.write("second");
  console.log("just before the end", id);
  responseStream.end();
});
"""


def flint_log_messages(server, name):
    """`flint logs <name>` as a user runs it: one message a line."""
    import subprocess
    from .invoke_support import flint_bin
    out = subprocess.run([flint_bin(), "logs", name, "--endpoint", server.endpoint],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.splitlines()


def assert_own_lines_before_end(lines, request_id, others):
    """Every line of `request_id`'s invocation sits between its START and END lines, and
    no line of another invocation does."""
    start = lines.index(next(l for l in lines if l.startswith(f"START RequestId: {request_id}")))
    end = lines.index(f"END RequestId: {request_id}")
    own = lines[start:end]
    for what in ("after the first chunk", "after the pause", "on stderr", "just before the end"):
        assert any(what in l and request_id in l for l in own), (what, request_id, lines)
    assert not any(o in l for l in own for o in others if o != request_id), (request_id, lines)


def test_a_streaming_functions_late_output_belongs_to_its_invocation(lam, fn, server):
    import base64
    name = fn("stream-late", {"index.mjs": NODE_LATE}, runtime="nodejs20.x",
              handler="index.handler", Timeout=10)
    ids = []
    for _ in range(3):
        resp = lam.invoke_with_response_stream(FunctionName=name, Payload=b"{}", LogType="Tail")
        chunks, complete = read_stream(resp)
        assert b"".join(c for _, c in chunks) == b"first second", chunks
        rid = resp["ResponseMetadata"]["RequestId"]
        ids.append(rid)
        log = base64.b64decode(complete["LogResult"]).decode().splitlines()
        assert_own_lines_before_end(log, rid, ids)
    # A buffered Invoke of the streamer too.
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    rid = r["ResponseMetadata"]["RequestId"]
    ids.append(rid)
    assert_own_lines_before_end(base64.b64decode(r["LogResult"]).decode().splitlines(), rid, ids)
    stored = flint_log_messages(server, name)
    for rid in ids:
        assert_own_lines_before_end(stored, rid, ids)
