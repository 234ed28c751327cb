"""CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
function identifiers, code download and the SDK waiters."""

import re
import urllib.parse
import uuid

import pytest
import requests

from bb_support import (ACCOUNT, REGION, ROLE, create, expect_error, function_arn, make_zip,
                      run_aws, sha256_b64, unique)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def test_create_function_response(lam, name):
    zip_bytes = make_zip({"index.py": "def handler(e, c):\n    return 1\n", "lib/x.txt": "x" * 100})
    resp = create(lam, name, zip_bytes)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert UUID_RE.match(resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    assert resp["FunctionName"] == name
    assert resp["FunctionArn"] == function_arn(name)
    assert resp["Runtime"] == "python3.12"
    assert resp["Role"] == ROLE
    assert resp["Handler"] == "index.handler"
    assert resp["CodeSha256"] == sha256_b64(zip_bytes)
    assert resp["CodeSize"] == len(zip_bytes)
    assert resp["Description"] == ""
    assert resp["Version"] == "$LATEST"
    assert UUID_RE.match(resp["RevisionId"]), resp["RevisionId"]
    assert LAST_MODIFIED_RE.match(resp["LastModified"]), resp["LastModified"]
    # Fact 5: Pending with reason, no LastUpdateStatus.
    assert resp["State"] == "Pending"
    assert resp["StateReason"] == "The function is being created."
    assert resp["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in resp
    # Defaults.
    assert resp["Timeout"] == 3
    assert resp["MemorySize"] == 128
    assert resp["EphemeralStorage"] == {"Size": 512}
    assert resp["TracingConfig"] == {"Mode": "PassThrough"}
    assert resp["Architectures"] == ["x86_64"]
    assert resp["PackageType"] == "Zip"
    assert resp["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert resp["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert resp["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith(
        f"arn:aws:lambda:{REGION}::runtime:")
    assert resp.get("Environment", {"Variables": {}}) == {"Variables": {}}

    got = lam.get_function(FunctionName=name)
    conf = got["Configuration"]
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert conf["State"] == "Active"
    assert conf["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in conf and "StateReasonCode" not in conf
    # Pending -> Active gives a new RevisionId (AWS's recorded test_function_revisions_basic).
    assert conf["RevisionId"] != resp["RevisionId"]
    assert conf["CodeSha256"] == resp["CodeSha256"]
    assert conf["LastModified"] == resp["LastModified"]
    assert got["Code"]["RepositoryType"] == "S3"
    assert conf["RuntimeVersionConfig"] == resp["RuntimeVersionConfig"]
    assert "Concurrency" not in got
    assert got.get("Tags", {}) == {}

    # Code.Location downloads exactly the zip, without credentials.
    loc = got["Code"]["Location"]
    r = requests.get(loc, timeout=30)
    assert r.status_code == 200
    assert r.content == zip_bytes

    # A tampered signature, or a URL for another package, is refused.
    parts = urllib.parse.urlsplit(loc)
    q = dict(urllib.parse.parse_qsl(parts.query))
    assert "signature" in q, loc
    sig = q["signature"]
    bad = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    tampered = loc.replace(sig, bad)
    assert requests.get(tampered, timeout=30).status_code == 403
    longer = loc.replace("expires=" + q["expires"], "expires=" + str(int(q["expires"]) + 1000))
    assert requests.get(longer, timeout=30).status_code == 403
    nosig = urllib.parse.urlunsplit(parts._replace(query=""))
    assert requests.get(nosig, timeout=30).status_code == 403


def test_get_function_configuration_and_identifiers(lam, name):
    created = create(lam, name)
    arn = function_arn(name)
    partial = f"{ACCOUNT}:function:{name}"
    for ident in (name, arn, partial, f"{name}:$LATEST", f"{arn}:$LATEST", f"{partial}:$LATEST"):
        conf = lam.get_function_configuration(FunctionName=ident)
        # Unqualified requests show the unqualified ARN; an explicit
        # $LATEST may be echoed.
        expected = (arn,) if ident in (name, arn, partial) else (arn, f"{arn}:$LATEST")
        assert conf["FunctionArn"] in expected, ident
        assert conf["Version"] == "$LATEST"
        assert conf["FunctionName"] == name
        assert conf["RevisionId"] != created["RevisionId"]  # Pending -> Active: a new id
        assert conf["State"] == "Active"
        got = lam.get_function(FunctionName=ident)
        assert got["Configuration"]["FunctionName"] == name
    # Qualifier as a query parameter.
    assert lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")["Version"] == "$LATEST"
    assert lam.get_function(FunctionName=arn, Qualifier="$LATEST")["Configuration"]["Version"] == "$LATEST"
    # Same qualifier twice agrees.
    lam.get_function_configuration(FunctionName=f"{name}:$LATEST", Qualifier="$LATEST")

    msg = "The derived qualifier from the function name does not match the specified qualifier."
    v1 = lam.publish_version(FunctionName=name)["Version"]
    assert v1 == "1"
    expect_error(lam.get_function_configuration, "InvalidParameterValueException", 400, msg,
                 FunctionName=f"{name}:1", Qualifier="$LATEST")
    expect_error(lam.get_function, "InvalidParameterValueException", 400, msg,
                 FunctionName=f"{arn}:$LATEST", Qualifier="1")

    # A version qualifier.
    conf = lam.get_function_configuration(FunctionName=f"{name}:1")
    assert conf["Version"] == "1" and conf["FunctionArn"] == f"{arn}:1"
    conf = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert conf["FunctionArn"] == f"{arn}:1"

    # Unknown function / version.
    missing = unique("missing")
    expect_error(lam.get_function, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(missing)}", FunctionName=missing)
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(missing)}",
                 FunctionName=function_arn(missing))
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}:7", FunctionName=name, Qualifier="7")
    expect_error(lam.delete_function, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(missing)}", FunctionName=missing)


def test_arn_of_other_account_or_region_is_not_found_or_refused(raw_lam, name):
    create(raw_lam, name)
    other = f"arn:aws:lambda:{REGION}:111111111111:function:{name}"
    with pytest.raises(Exception) as ei:
        raw_lam.get_function(FunctionName=other)
    code = ei.value.response["Error"]["Code"]
    assert code in ("ResourceNotFoundException", "AccessDeniedException",
                    "InvalidParameterValueException", "ValidationException"), code


def test_waiters(lam, name):
    create(lam, name)
    lam.get_waiter("function_exists").wait(FunctionName=name)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    lam.get_waiter("function_active").wait(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Timeout=9)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.get_waiter("function_updated").wait(FunctionName=name)
    v = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=v)
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 9


def test_function_exists_waiter_times_out_on_missing(lam):
    from botocore.exceptions import WaiterError
    with pytest.raises(WaiterError):
        lam.get_waiter("function_exists").wait(
            FunctionName=unique("nope"), WaiterConfig={"Delay": 0.05, "MaxAttempts": 2})


def test_cli_wait_function_active_v2(server, name):
    create(server.client(), name)
    res = run_aws(server.endpoint, "wait", "function-active-v2", "--function-name", name)
    assert res.returncode == 0 and res.stdout == "", res.stderr


def test_list_functions_pagination(fresh):
    lam = fresh.client()
    names = sorted(f"list-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(63))
    zip_bytes = make_zip()
    for n in names:
        create(lam, n, zip_bytes)
    # Publish versions of two functions: FunctionVersion=ALL lists them too.
    lam.publish_version(FunctionName=names[0])
    lam.update_function_configuration(FunctionName=names[0], Description="v2")
    lam.publish_version(FunctionName=names[0])
    lam.publish_version(FunctionName=names[5])

    # Manual pagination with MaxItems.
    for max_items in (1, 7, 50, 64):
        seen, marker, pages = [], None, 0
        while True:
            kw = {"MaxItems": max_items}
            if marker:
                kw["Marker"] = marker
            page = lam.list_functions(**kw)
            pages += 1
            assert len(page["Functions"]) <= min(max_items, 50)
            seen.extend(f["FunctionName"] for f in page["Functions"])
            marker = page.get("NextMarker")
            if not marker:
                break
            assert pages < 200
        assert sorted(seen) == names, max_items
        assert len(seen) == len(set(seen)), "duplicates"

    # Deleting the function a marker points at does not derail paging.
    page = lam.list_functions(MaxItems=10)
    first_ten = [f["FunctionName"] for f in page["Functions"]]
    victim = first_ten[-1]
    assert victim not in (names[0], names[5]), "listing is not in name order"
    lam.delete_function(FunctionName=victim)
    rest, marker = [], page["NextMarker"]
    while marker:
        page = lam.list_functions(MaxItems=10, Marker=marker)
        rest += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
    assert sorted(first_ten + rest) == names and len(set(first_ten + rest)) == len(names)
    create(lam, victim, zip_bytes)

    # Default page: at most 50.
    first = lam.list_functions()
    assert len(first["Functions"]) == 50 and first.get("NextMarker")

    # The boto3 paginator, with a small page size.
    seen = []
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 10}):
        seen.extend(f["FunctionName"] for f in page["Functions"])
    assert sorted(seen) == names and len(seen) == len(set(seen))

    # List entries carry no State fields and no RuntimeVersionConfig.
    for f in first["Functions"]:
        for k in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
                  "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "RuntimeVersionConfig"):
            assert k not in f, (k, f)
        assert f["Version"] == "$LATEST"
        assert f["FunctionArn"] == function_arn(f["FunctionName"])

    # FunctionVersion=ALL: $LATEST of everything plus the published versions.
    arns = []
    for page in lam.get_paginator("list_functions").paginate(
            FunctionVersion="ALL", PaginationConfig={"PageSize": 9}):
        for f in page["Functions"]:
            assert "State" not in f
            arns.append((f["FunctionName"], f["Version"], f["FunctionArn"]))
    assert len(arns) == len(set(arns))
    versions = sorted((n, v) for n, v, _ in arns)
    expected = sorted([(n, "$LATEST") for n in names]
                      + [(names[0], "1"), (names[0], "2"), (names[5], "1")])
    assert versions == expected
    for n, v, arn in arns:
        if v != "$LATEST":
            assert arn == f"{function_arn(n)}:{v}"


def test_list_functions_bad_max_items(raw_lam):
    for bad in (0, 10001):
        expect_error(raw_lam.list_functions, "ValidationException", 400, MaxItems=bad)
    expect_error(raw_lam.list_functions, "ValidationException", 400, FunctionVersion="SOME")
