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
