"""The Invoke operation itself: qualifiers, versions, aliases with routing,
DryRun, request errors, payload limits, ClientContext, code/config updates."""

import base64
import json

import pytest
import requests
from botocore.exceptions import ClientError

from .invoke_support import function_arn, invoke, make_zip, report_fields, wait_active

VERSIONED = r'''
import os
VERSION_TAG = "{tag}"
def handler(event, context):
    return {{"tag": VERSION_TAG, "fv": context.function_version,
             "env_version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
             "arn": context.invoked_function_arn,
             "mode": os.environ.get("MODE"),
             "memory": context.memory_limit_in_mb}}
'''


def code(tag):
    return {"index.py": VERSIONED.format(tag=tag)}


def error_of(exc):
    err = exc.value.response
    return (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"],
            err["Error"].get("Message", ""))


@pytest.fixture
def versioned(lam, fn):
    """A function with versions 1 (tag v1) and 2 (tag v2), $LATEST = v3 unpublished,
    alias `live` -> 1 and alias `canary` -> 1 with 50 % on 2."""
    name = fn("versions", code("v1"))
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(code("v2")))
    wait_active(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(code("v3")))
    wait_active(lam, name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="canary", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    return name


def test_executed_version_latest_version_alias(lam, versioned):
    name = versioned
    r = invoke(lam, name)
    assert r.executed_version == "$LATEST" and r.json["tag"] == "v3", r
    assert r.json["fv"] == "$LATEST" and r.json["arn"] == function_arn(name)

    r = invoke(lam, name, Qualifier="$LATEST")
    assert r.executed_version == "$LATEST" and r.json["tag"] == "v3", r
    assert r.json["arn"] == function_arn(name, "$LATEST")

    r = invoke(lam, name, Qualifier="1")
    assert r.executed_version == "1" and r.json["tag"] == "v1", r
    assert r.json["fv"] == "1" and r.json["env_version"] == "1"
    assert r.json["arn"] == function_arn(name, "1")

    r = invoke(lam, f"{name}:2")
    assert r.executed_version == "2" and r.json["tag"] == "v2", r
    assert r.json["arn"] == function_arn(name, "2")

    r = invoke(lam, name, Qualifier="live")
    assert r.executed_version == "1" and r.json["tag"] == "v1", r
    assert r.json["arn"] == function_arn(name, "live")
    assert r.json["fv"] == "1"

    r = invoke(lam, f"{name}:live")
    assert r.executed_version == "1" and r.json["arn"] == function_arn(name, "live"), r

    # Full ARN as the function name.
    r = invoke(lam, function_arn(name, "2"))
    assert r.executed_version == "2" and r.json["tag"] == "v2", r


def test_alias_routing_50_50(lam, versioned):
    seen = {}
    for _ in range(40):
        r = invoke(lam, versioned, Qualifier="canary")
        assert r.function_error is None, r
        assert r.json["tag"] == {"1": "v1", "2": "v2"}[r.executed_version], r
        assert r.json["fv"] == r.executed_version
        assert r.json["arn"] == function_arn(versioned, "canary")
        seen[r.executed_version] = seen.get(r.executed_version, 0) + 1
    # P(one version never chosen in 40 fair draws) = 2 * 2^-40.
    assert set(seen) == {"1", "2"}, seen


def test_qualifier_mismatch(lam, versioned):
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=f"{versioned}:1", Qualifier="2", Payload=b"{}")
    status, code_, msg = error_of(e)
    assert (status, code_) == (400, "InvalidParameterValueException"), e.value.response
    assert msg == "The derived qualifier from the function name does not match the specified qualifier."


def test_unknown_qualifier_404(lam, versioned):
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=versioned, Qualifier="nope", Payload=b"{}")
    status, code_, msg = error_of(e)
    assert (status, code_) == (404, "ResourceNotFoundException"), e.value.response
    assert msg == f"Function not found: {function_arn(versioned, 'nope')}"
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=versioned, Qualifier="7", Payload=b"{}")
    assert error_of(e)[:2] == (404, "ResourceNotFoundException")


def test_unknown_function_404(lam):
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="no-such-function-here", Payload=b"{}")
    status, code_, msg = error_of(e)
    assert (status, code_) == (404, "ResourceNotFoundException"), e.value.response
    # Invoke names an unqualified function as `:$LATEST` (AWS's recorded
    # test_function_name_and_qualifier_validation[...-invoke]).
    assert msg == f"Function not found: {function_arn('no-such-function-here', '$LATEST')}"


def test_dry_run(lam, fn):
    name = fn("dryrun", {"index.py": "raise SystemExit('init must not run for DryRun')\n"})
    resp = lam.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert resp["StatusCode"] == 204, resp
    assert resp["Payload"].read() == b""
    assert "FunctionError" not in resp
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="no-such-fn-dry", InvocationType="DryRun")
    assert error_of(e)[:2] == (404, "ResourceNotFoundException")


def test_invalid_json_payload(lam, fn, healthy):
    for bad in [b"{not json", b"{\"a\": 1", b"\xff\xfe", b"[1,2,]"]:
        with pytest.raises(ClientError) as e:
            lam.invoke(FunctionName=healthy, Payload=bad)
        status, code_, msg = error_of(e)
        assert (status, code_) == (400, "InvalidRequestContentException"), (bad, e.value.response)
        assert msg.startswith("Could not parse request body into json"), msg


def test_payload_too_large(lam, server, healthy):
    big = b'"' + b"a" * 6_291_456 + b'"'
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=healthy, Payload=big)
    status, code_, msg = error_of(e)
    assert (status, code_) == (413, "RequestEntityTooLargeException"), e.value.response
    assert msg == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_payload_at_limit_is_accepted(lam, fn):
    name = fn("bigin", {"index.py": "def handler(event, context):\n    return len(event)\n"},
              MemorySize=512)
    payload = b'"' + b"b" * (6_291_456 - 2) + b'"'
    assert len(payload) == 6_291_456
    r = invoke(lam, name, payload=payload)
    assert r.function_error is None, r
    assert r.json == 6_291_454


def test_client_context(lam, fn):
    name = fn("clientctx", {"index.py": (
        "def handler(event, context):\n"
        "    cc = context.client_context\n"
        "    return None if cc is None else {'custom': cc.custom, 'env': cc.env,\n"
        "        'app_title': getattr(cc.client, 'app_title', None)}\n")})
    ctx = {"custom": {"k": "v", "n": 1}, "env": {"platform": "test"},
           "client": {"app_title": "flint-tests", "installation_id": "i-1",
                      "app_version_name": "1", "app_version_code": "1", "app_package_name": "p"}}
    b64 = base64.b64encode(json.dumps(ctx).encode()).decode()
    r = invoke(lam, name, ClientContext=b64)
    assert r.function_error is None, r
    assert r.json == {"custom": {"k": "v", "n": 1}, "env": {"platform": "test"},
                      "app_title": "flint-tests"}, r
    r = invoke(lam, name)
    assert r.json is None, r


def test_client_context_node(lam, fn):
    name = fn("clientctx-node", {"index.js": "exports.handler = async (e, c) => c.clientContext ?? null;\n"},
              runtime="nodejs20.x")
    ctx = {"custom": {"a": "b"}, "env": {"x": "y"}}
    r = invoke(lam, name, ClientContext=base64.b64encode(json.dumps(ctx).encode()).decode())
    assert r.function_error is None, r
    assert r.json == ctx, r


def test_update_code_then_invoke_runs_new_code(lam, fn):
    name = fn("update-code", code("old"), Environment={"Variables": {"MODE": "first"}})
    r1 = invoke(lam, name, LogType="Tail")
    assert r1.json["tag"] == "old" and r1.json["mode"] == "first"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(code("new")))
    wait_active(lam, name)
    r2 = invoke(lam, name, LogType="Tail")
    assert r2.json["tag"] == "new", r2
    assert "Init Duration" in report_fields(r2.log), r2.log  # a fresh environment

    lam.update_function_configuration(FunctionName=name, MemorySize=320,
                                      Environment={"Variables": {"MODE": "second"}})
    wait_active(lam, name)
    r3 = invoke(lam, name, LogType="Tail")
    assert r3.json["mode"] == "second" and str(r3.json["memory"]) == "320", r3
    f = report_fields(r3.log)
    assert "Init Duration" in f and f["Memory Size"] == "320 MB", f
    # And that new environment is reused.
    r4 = invoke(lam, name, LogType="Tail")
    assert r4.json["mode"] == "second"
    assert "Init Duration" not in report_fields(r4.log)


def test_update_handler_and_runtime(lam, fn):
    name = fn("update-handler", {"index.py": "def handler(e, c):\n    return 'py'\n",
                                 "index.js": "exports.handler = async () => 'node';\n",
                                 "other.py": "def go(e, c):\n    return 'other'\n"})
    assert invoke(lam, name).json == "py"
    lam.update_function_configuration(FunctionName=name, Handler="other.go")
    wait_active(lam, name)
    assert invoke(lam, name).json == "other"
    lam.update_function_configuration(FunctionName=name, Runtime="nodejs20.x", Handler="index.handler")
    wait_active(lam, name)
    assert invoke(lam, name).json == "node"


def test_raw_http_headers(server, fn):
    """The wire format without botocore in the way."""
    name = fn("raw-http", {"index.py": "def handler(e, c):\n    return {'ok': True}\n"})
    url = f"{server.endpoint}/2015-03-31/functions/{name}/invocations"
    r = requests.post(url, data=b'{"a":1}', timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["X-Amz-Executed-Version"] == "$LATEST"
    assert r.headers["Content-Type"].startswith("application/json")
    assert "X-Amz-Function-Error" not in r.headers
    assert json.loads(r.content) == {"ok": True}
    r = requests.post(url, data=b"", headers={"X-Amz-Invocation-Type": "Bogus"}, timeout=60)
    assert r.status_code == 400, r.text


def test_response_too_large(lam, fn):
    name = fn("bigout", {"index.py": "def handler(event, context):\n    return 'x' * event['n']\n"},
              MemorySize=512)
    ok = invoke(lam, name, {"n": 6_000_000})
    assert ok.function_error is None and len(ok.body) == 6_000_002, (ok.status, ok.function_error, len(ok.body))
    r = invoke(lam, name, {"n": 7_000_000})
    assert r.status == 200 and r.function_error == "Unhandled", (r.status, r.function_error, r.body[:300])
    body = r.json
    assert body["errorType"] == "Function.ResponseSizeTooLarge", body
    assert body["errorMessage"] == ("Response payload size (7000002 bytes) exceeded maximum allowed "
                                    "payload size (6291556 bytes)."), body


def test_concurrent_invokes_get_separate_environments(lam, fn):
    from concurrent.futures import ThreadPoolExecutor
    name = fn("concurrent", {"index.py": (
        "import os, time\n"
        "def handler(event, context):\n"
        "    time.sleep(1.5)\n"
        "    return {'stream': context.log_stream_name, 'i': event['i']}\n")}, Timeout=30)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: invoke(lam, name, {"i": i}), range(4)))
    for i, r in enumerate(results):
        assert r.function_error is None, r
        assert r.json["i"] == i
    # An environment runs one invocation at a time: four overlapping invokes, four
    # environments, each with its own log stream.
    assert len({r.json["stream"] for r in results}) == 4, [r.json for r in results]
