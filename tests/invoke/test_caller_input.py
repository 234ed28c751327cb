"""What callers send, checked before anything runs: a payload that is not UTF-8 text (here
inside an otherwise well-formed JSON string, which a JSON syntax check alone lets through) is
refused by `Invoke` (every invocation type) and `InvokeWithResponseStream` with Lambda's 400
`InvalidRequestContentException` and Jackson's message, and the function never starts (no
START line in its log). Recorded: test_lambda.py::TestLambdaErrors::
test_lambda_invoke_payload_encoding_error."""

import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from .invoke_support import invoke

COUNTING = (
    "def handler(event, context):\n"
    "    print('RAN', repr(event))\n"
    "    return event\n"
)

PREFIX = "Could not parse request body into json: Could not parse payload into json: "


def jackson(what, line, column):
    return (f"{PREFIX}Invalid UTF-8 {what}\n at [Source: REDACTED "
            f"(`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: {line}, "
            f"column: {column}]")


def log_text(server, name):
    with urllib.request.urlopen(f"{server.endpoint}/_flint/logs/{name}?offset=0") as r:
        return "\n".join(rec["message"] for rec in json.load(r)["records"])


def refusal(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return (r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"],
            r["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-errortype"))


CASES = [
    # The recorded body: what the AWS CLI v2 sends for `--payload '{"body": ...}'` without
    # `--cli-binary-format raw-in-base64-out` (the base64 decoding of the JSON text).
    (b"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt", jackson("start byte 0x87", 1, 3)),
    # Well-formed JSON with a byte that starts no character inside a string.
    (b'{"a": "\xff\xfe"}', jackson("start byte 0xff", 1, 9)),
    # A character cut short, on the second line.
    (b'{\n"name": "caf\xc3("}', jackson("middle byte 0x28", 2, 15)),
]


@pytest.mark.parametrize("payload,message", CASES, ids=["recorded", "in-string", "cut-short"])
def test_invalid_utf8_is_refused_before_anything_runs(server, lam, fn, payload, message):
    name = fn("utf8", {"index.py": COUNTING})
    for label, call in [
        ("RequestResponse", lambda: lam.invoke(FunctionName=name, Payload=payload)),
        ("Event", lambda: lam.invoke(FunctionName=name, Payload=payload,
                                     InvocationType="Event")),
        ("DryRun", lambda: lam.invoke(FunctionName=name, Payload=payload,
                                      InvocationType="DryRun")),
        ("stream", lambda: lam.invoke_with_response_stream(FunctionName=name, Payload=payload)),
    ]:
        status, code, msg, header = refusal(call)
        assert (status, code, header) == (400, "InvalidRequestContentException",
                                          "InvalidRequestContentException"), (label, msg)
        assert msg == message, label
    assert "START" not in log_text(server, name) and "RAN" not in log_text(server, name)
    # The same function runs a valid payload (and only that one shows in its log).
    assert invoke(lam, name, payload=b'{"a": "caf\xc3\xa9"}').json == {"a": "café"}
    deadline = time.monotonic() + 10
    while "REPORT RequestId" not in (log := log_text(server, name)):
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert log.count("START RequestId") == 1 and log.count("RAN") == 1, log
