"""Asynchronous invocation through boto3: EventInvokeConfig operations, an
`Event` invoke answered 202 whose OnSuccess record reaches a destination
function, and Lambda's async payload limit. (Retries and expiry run on the
test clock in crates/flint/tests/sdk_async.rs; the kill -9 crash test is
crates/flint/tests/sdk_async_crash.rs.)"""

import json
import time
import urllib.request

import botocore.exceptions
import pytest

from .invoke_support import function_arn

DEST = (
    "import json\n"
    "def handler(event, context):\n"
    "    print('RECORD ' + json.dumps(event))\n"
    "    return {}\n"
)
SOURCE = "def handler(event, context):\n    return {'got': event}\n"


def log_messages(server, name):
    with urllib.request.urlopen(f"{server.endpoint}/_flint/logs/{name}?offset=0") as r:
        return [rec["message"] for rec in json.load(r)["records"]]


def test_event_invoke_reaches_on_success_with_lambdas_record(server, lam, fn):
    dest = fn("dest", {"index.py": DEST})
    src = fn("src", {"index.py": SOURCE})
    cfg = lam.put_function_event_invoke_config(
        FunctionName=src,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": function_arn(dest)}},
    )
    assert cfg["FunctionArn"] == function_arn(src, "$LATEST")
    assert cfg["MaximumRetryAttempts"] == 0
    assert cfg["DestinationConfig"]["OnSuccess"]["Destination"] == function_arn(dest)

    resp = lam.invoke(FunctionName=src, InvocationType="Event", Payload=b'{"k": "v"}')
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    request_id = resp["ResponseMetadata"]["RequestId"]

    deadline = time.time() + 60
    record = None
    while record is None:
        for m in log_messages(server, dest):
            if "RECORD " in m:
                r = json.loads(m.split("RECORD ", 1)[1])
                if r["requestContext"]["requestId"] == request_id:
                    record = r
        assert record is not None or time.time() < deadline, "no record reached the destination"
        time.sleep(0.1)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["functionArn"] == function_arn(src, "$LATEST")
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"k": "v"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"got": {"k": "v"}}


def test_event_invoke_config_errors_and_merge(lam, fn):
    name = fn("cfg", {"index.py": SOURCE})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_event_invoke_config(FunctionName=name)
    err = e.value.response
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["Error"]["Message"] == (
        f"The function {function_arn(name, '$LATEST')} doesn't have an EventInvokeConfig"
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={"OnSuccess": {"Destination": "arn:aws:s3:::bucket"}},
        )
    assert e.value.response["Error"]["Message"] == "The destination ARN arn:aws:s3:::bucket is invalid."
    lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=600)
    merged = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert merged["MaximumEventAgeInSeconds"] == 600
    assert merged["MaximumRetryAttempts"] == 1
    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [
        function_arn(name, "$LATEST")
    ]
    lam.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError):
        lam.get_function_event_invoke_config(FunctionName=name)


def test_event_payload_limit_is_lambdas(lam, fn):
    name = fn("big", {"index.py": SOURCE})
    payload = b'"' + b"a" * 1_048_575 + b'"'
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert err["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err["Error"]["Message"] == (
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )


PRINTER = "def handler(event, context):\n    print('GOT ' + repr(event))\n    return {}\n"


def test_invoke_async_the_deprecated_api_queues_the_event(server, lam, fn):
    name = fn("legacy", {"index.py": PRINTER})
    resp = lam.invoke_async(FunctionName=name, InvokeArgs=b'{"legacy": true}')
    assert resp["Status"] == 202
    request_id = resp["ResponseMetadata"]["RequestId"]
    deadline = time.time() + 60
    while not any("GOT {'legacy': True}" in m for m in log_messages(server, name)):
        assert time.time() < deadline, "the InvokeAsync event never ran"
        time.sleep(0.1)
    assert any(request_id in m for m in log_messages(server, name) if m.startswith("START"))

    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_async(FunctionName=name, InvokeArgs=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_async(FunctionName=name, InvokeArgs=b'"' + b"x" * 262_144 + b'"')
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_async(FunctionName=name + "-missing", InvokeArgs=b"{}")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
