"""The wire format of errors (facts §1.3) seen with raw HTTP, and the
validation rules the model encodes for less common fields."""

import base64
import json
import re

import pytest
import requests

from bb_support import ROLE, create, error_of, expect_error, function_arn, make_zip, unique

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _check(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("x-amzn-ErrorType") == code, r.headers
    assert UUID_RE.match(r.headers.get("x-amzn-RequestId", "")), r.headers
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_error_envelope_casing(server):
    ep = server.endpoint
    n = unique()
    create(server.client(), n)
    missing = unique("missing")

    # Shapes modelled with `Message`.
    body = _check(requests.get(f"{ep}/2015-03-31/functions/{missing}", timeout=30),
                  404, "ResourceNotFoundException")
    assert body == {"Type": "User", "Message": f"Function not found: {function_arn(missing)}"}
    body = _check(requests.get(f"{ep}/2015-03-31/functions/{n}/aliases/nope", timeout=30),
                  404, "ResourceNotFoundException")
    assert body == {"Type": "User",
                    "Message": f"Cannot find alias arn: {function_arn(n)}:nope"}

    # Shapes modelled with lowercase `message`.
    body = _check(requests.delete(f"{ep}/2015-03-31/functions/{n}?Qualifier=$LATEST", timeout=30),
                  400, "InvalidParameterValueException")
    assert body == {"Type": "User",
                    "message": "$LATEST version cannot be deleted without deleting the function."}
    dup = json.dumps(dict(FunctionName=n, Runtime="python3.12", Role=ROLE, Handler="a.b",
                          Code={"ZipFile": base64.b64encode(make_zip()).decode()}))
    body = _check(requests.post(f"{ep}/2015-03-31/functions", data=dup, timeout=30),
                  409, "ResourceConflictException")
    assert body == {"Type": "User", "message": f"Function already exist: {n}"}
    body = _check(requests.put(f"{ep}/2015-03-31/functions/{n}/configuration",
                               data=json.dumps({"RevisionId": "nope", "Timeout": 5}), timeout=30),
                  412, "PreconditionFailedException")
    assert body["Type"] == "User" and body["message"].startswith(
        "The Revision Id provided does not match the latest Revision Id.")

    # ValidationException: lowercase message with the constraint text.
    body = _check(requests.put(f"{ep}/2015-03-31/functions/{n}/configuration",
                               data=json.dumps({"MemorySize": 5}), timeout=30),
                  400, "ValidationException")
    assert body["message"] == ("1 validation error detected: Value '5' at 'memorySize' failed "
                               "to satisfy constraint: Member must have value greater than or "
                               "equal to 128")

    # Success responses carry a request id too.
    r = requests.get(f"{ep}/2015-03-31/functions/{n}", timeout=30)
    assert r.status_code == 200 and UUID_RE.match(r.headers["x-amzn-RequestId"])
    r = requests.get(f"{ep}/2016-08-19/account-settings", timeout=30)
    assert r.status_code == 200 and UUID_RE.match(r.headers["x-amzn-RequestId"])
    # DeleteFunction answers 204 like AWS (the model says 200).
    r = requests.delete(f"{ep}/2015-03-31/functions/{n}", timeout=30)
    assert r.status_code == 204 and r.content == b""


def test_every_rejection_is_aws_shaped(server, lam):
    """Whatever layer refuses a request (the router, a path or query extractor, a header or
    body check), the answer is AWS's envelope: `x-amzn-ErrorType`, a request id and a JSON
    body; never axum's text/plain or an empty 405."""
    ep = server.endpoint
    n = unique()
    create(server.client(), n)
    pattern = "' at '{}' failed to satisfy constraint: Member must satisfy regular expression"
    # Percent-encoded bytes that are not UTF-8 in each kind of path segment: the field's own
    # validation answers, as for any name outside its pattern.
    for method, path, field in [
        ("GET", "/2015-03-31/functions/%FF%FE", "functionName"),
        ("POST", "/2015-03-31/functions/%FF%FE/invocations", "functionName"),
        ("POST", "/2021-11-15/functions/%FF%FE/response-streaming-invocations", "functionName"),
        ("GET", f"/2015-03-31/functions/{n}/aliases/%FF", "name"),
        ("DELETE", f"/2015-03-31/functions/{n}/policy/%FF", "statementId"),
        ("GET", "/2017-03-31/tags/%FF", "resource"),
    ]:
        body = _check(requests.request(method, ep + path, timeout=30), 400,
                      "ValidationException")
        assert set(body) == {"message"}, body
        assert body["message"].startswith("1 validation error detected: Value '\ufffd"), body
        assert pattern.format(field) in body["message"], (path, body)
    # No operation at that path, or not with that method: AWS's UnknownOperationException.
    for method, path in [("GET", "/2015-03-31/nothing-here"), ("PUT", "/2015-03-31/functions"),
                         ("GET", f"/2015-03-31/functions/{n}/invocations"),
                         ("PATCH", f"/2015-03-31/functions/{n}")]:
        body = _check(requests.request(method, ep + path, timeout=30), 404,
                      "UnknownOperationException")
        assert body == {"Type": "User",
                        "Message": f"No Lambda operation matches {method} {path}"}, body
    # Headers that are not visible ASCII are checked like any other value (not ignored).
    r = requests.post(f"{ep}/2015-03-31/functions/{n}/invocations", data=b"{}",
                      headers={"X-Amz-Invocation-Type": "Ev\xffnt"}, timeout=30)
    body = _check(r, 400, "ValidationException")
    assert body["message"] == (
        "1 validation error detected: Value 'Ev\ufffdnt' at 'invocationType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
    # Bodies: not JSON, not UTF-8, too large; queries: not a number.
    body = _check(requests.post(f"{ep}/2015-03-31/functions", data=b'{"FunctionName": "\xff"}',
                                timeout=30), 400, "InvalidRequestContentException")
    assert body["Type"] == "User" and body["message"].startswith(
        "Could not parse request body into json: "), body
    body = _check(requests.post(f"{ep}/2015-03-31/functions/{n}/invocations",
                                data=b"x" * 6_291_457, timeout=30),
                  413, "RequestEntityTooLargeException")
    assert body["message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    body = _check(requests.get(f"{ep}/2015-03-31/functions?MaxItems=%FF", timeout=30),
                  400, "ValidationException")
    assert body["message"] == ("1 validation error detected: Value '\ufffd' at 'maxItems' "
                               "failed to satisfy constraint: Member must be a number")
    # boto3 sees the same as a modelled client error.
    expect_error(lam.get_function, "ValidationException", 400, FunctionName="\u00ff\u00fe",
                 contains="Value '\u00ff\u00fe' at 'functionName' failed to satisfy constraint")


def test_layers_and_logging_rules(raw_lam, name):
    layers = [f"arn:aws:lambda:us-east-1:000000000000:layer:l{i}:1" for i in range(6)]
    expect_error(raw_lam.create_function, "InvalidParameterValueException", 400,
                 "Cannot reference more than 5 layers.",
                 FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="a.b",
                 Code={"ZipFile": make_zip()}, Layers=layers)
    expect_error(raw_lam.create_function, "ValidationException", 400,
                 FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="a.b",
                 Code={"ZipFile": make_zip()},
                 FileSystemConfigs=[{"Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:"
                                            "access-point/fsap-12345678901234567",
                                     "LocalMountPath": "/mnt/a"}] * 2)
    expect_error(raw_lam.get_function, "ResourceNotFoundException", 404, FunctionName=name)
    create(raw_lam, name)
    expect_error(raw_lam.update_function_configuration, "InvalidParameterValueException", 400,
                 "To use ApplicationLogLevel or SystemLogLevel, LogFormat must be set to JSON.",
                 FunctionName=name,
                 LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"})
    expect_error(raw_lam.update_function_code, "ValidationException", 400,
                 FunctionName=name, ZipFile=make_zip(), Architectures=["x86_64", "arm64"])
    # arm64 is accepted.
    r = raw_lam.update_function_code(FunctionName=name, ZipFile=make_zip(), Architectures=["arm64"])
    assert r["Architectures"] == ["arm64"]


MODEL_PATTERN_CASES = {
    # The model: KMSKeyArn and ResourceArn (DeadLetterConfig.TargetArn) have
    # pattern (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|(); SubnetIds max 16;
    # SecurityGroupIds max 5.
    "kms-key-arn": (dict(KMSKeyArn="not an arn"), "kMSKeyArn"),
    "dlq-target-arn": (dict(DeadLetterConfig={"TargetArn": "bad arn"}),
                       "deadLetterConfig.targetArn"),
    "vpc-17-subnets": (dict(VpcConfig={"SubnetIds": [f"subnet-{i}" for i in range(17)],
                                       "SecurityGroupIds": []}), "vpcConfig.subnetIds"),
    # LayerVersionArn pattern: checked before any layer is looked up.
    "layer-arn-pattern": (dict(Layers=["not-a-layer-arn"]), "layers"),
    "vpc-6-security-groups": (dict(VpcConfig={"SubnetIds": ["subnet-1"],
                                              "SecurityGroupIds": [f"sg-{i}" for i in range(6)]}),
                              "vpcConfig.securityGroupIds"),
}


@pytest.mark.parametrize("case", list(MODEL_PATTERN_CASES))
def test_model_constraints_on_arns_and_vpc(raw_lam, case):
    overrides, field = MODEL_PATTERN_CASES[case]
    n = unique()
    try:
        with pytest.raises(Exception) as ei:
            raw_lam.create_function(FunctionName=n, Runtime="python3.12", Role=ROLE,
                                    Handler="a.b", Code={"ZipFile": make_zip()}, **overrides)
        code, status, msg, _ = error_of(ei)
        assert (code, status) == ("ValidationException", 400), (code, msg)
        assert f"at '{field}'" in msg
    finally:
        try:
            raw_lam.delete_function(FunctionName=n)
        except Exception:  # noqa: BLE001
            pass


def test_description_length_counts_characters(raw_lam):
    """Model lengths count characters, not UTF-8 bytes."""
    n = unique()
    r = create(raw_lam, n, Description="\u20ac" * 256)
    assert r["Description"] == "\u20ac" * 256
    m, _ = expect_error(raw_lam.update_function_configuration, "ValidationException", 400,
                        FunctionName=n, Description="\u20ac" * 257)
    assert "at 'description'" in m
    raw_lam.delete_function(FunctionName=n)


def test_handler_length_counts_characters(raw_lam):
    n = unique()
    try:
        r = create(raw_lam, n, Handler="\u00e9" * 128)
        assert r["Handler"] == "\u00e9" * 128
    finally:
        try:
            raw_lam.delete_function(FunctionName=n)
        except Exception:  # noqa: BLE001
            pass


def test_list_aliases_function_version_pattern(raw_lam):
    n = unique()
    create(raw_lam, n)
    try:
        m, _ = expect_error(raw_lam.list_aliases, "ValidationException", 400,
                            FunctionName=n, FunctionVersion="abc")
        assert "at 'functionVersion'" in m
    finally:
        raw_lam.delete_function(FunctionName=n)


def test_master_region_pattern(raw_lam):
    m, _ = expect_error(raw_lam.list_functions, "ValidationException", 400,
                        MasterRegion="moon", FunctionVersion="ALL")
    assert "at 'masterRegion'" in m

