"""UpdateFunctionConfiguration, UpdateFunctionCode, PublishVersion,
ListVersionsByFunction and deleting versions."""

import requests

from bb_support import (ACCOUNT, REGION, create, expect_error, function_arn, make_zip,
                      sha256_b64, unique)

REV_MSG = ("The Revision Id provided does not match the latest Revision Id. "
           "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
NEW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/other-role"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def assert_update_response(resp, before_rev):
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["LastUpdateStatus"] == "InProgress"
    # What AWS shows right after Update* (facts §1.5 / §19).
    assert resp["LastUpdateStatusReason"] == "The function is being created."
    assert resp["LastUpdateStatusReasonCode"] == "Creating"
    assert resp["State"] == "Active"
    assert resp["RevisionId"] != before_rev


def test_update_every_configuration_field(lam, name):
    created = create(lam, name)
    rev = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    changes = [
        dict(Description="a description"),
        dict(Handler="app.main"),
        dict(Runtime="python3.13"),
        dict(Role=NEW_ROLE),
        dict(MemorySize=1024),
        dict(Timeout=900),
        dict(Environment={"Variables": {"GREETING": "hi", "LANG": "C.UTF-8",
                                        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/w"}}),
        dict(EphemeralStorage={"Size": 10240}),
        dict(TracingConfig={"Mode": "Active"}),
        dict(LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                            "SystemLogLevel": "WARN"}),
        dict(DeadLetterConfig={"TargetArn": DLQ}),
        dict(KMSKeyArn=KMS),
    ]
    for change in changes:
        resp = lam.update_function_configuration(FunctionName=name, **change)
        assert_update_response(resp, rev)
        rev = resp["RevisionId"]
        got = lam.get_function_configuration(FunctionName=name)
        assert got["LastUpdateStatus"] == "Successful"
        assert "LastUpdateStatusReason" not in got and "LastUpdateStatusReasonCode" not in got
        assert got["State"] == "Active"
        # InProgress -> Successful gives a new RevisionId (AWS's recordings).
        assert got["RevisionId"] != rev
        rev = got["RevisionId"]
        ((k, v),) = change.items()
        if k == "LoggingConfig":
            assert got[k] == dict(v, LogGroup=f"/aws/lambda/{name}")
            assert resp[k] == got[k]
        else:
            assert got[k] == v, (k, got.get(k))
            assert resp[k] == v
    # Nothing else moved.
    final = lam.get_function_configuration(FunctionName=name)
    assert final["CodeSha256"] == created["CodeSha256"]
    assert final["Description"] == "a description" and final["MemorySize"] == 1024
    assert final["Runtime"] == "python3.13" and final["Handler"] == "app.main"
    assert final["Role"] == NEW_ROLE and final["Timeout"] == 900
    # Text format with levels is refused? Clearing logging back to Text works.
    resp = lam.update_function_configuration(FunctionName=name,
                                             LoggingConfig={"LogFormat": "Text"})
    assert resp["LoggingConfig"]["LogFormat"] == "Text"
    # Clearing the environment.
    resp = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    got = lam.get_function_configuration(FunctionName=name)
    assert got.get("Environment", {"Variables": {}}).get("Variables", {}) == {}


def test_update_configuration_revision_id(lam, name):
    created = create(lam, name)
    # The create answer's id is the Pending function's: stale once it is Active.
    expect_error(lam.update_function_configuration, "PreconditionFailedException", 412, REV_MSG,
                 FunctionName=name, Description="zero", RevisionId=created["RevisionId"])
    old = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    resp = lam.update_function_configuration(FunctionName=name, Description="one", RevisionId=old)
    assert resp["RevisionId"] != old
    expect_error(lam.update_function_configuration, "PreconditionFailedException", 412, REV_MSG,
                 FunctionName=name, Description="two", RevisionId=old)
    # ... and so is the update answer's once the update is Successful.
    expect_error(lam.update_function_configuration, "PreconditionFailedException", 412, REV_MSG,
                 FunctionName=name, Description="two", RevisionId=resp["RevisionId"])
    got = lam.get_function_configuration(FunctionName=name)
    assert got["Description"] == "one"
    assert got["RevisionId"] not in (old, resp["RevisionId"])
    lam.update_function_configuration(FunctionName=name, Description="three",
                                      RevisionId=got["RevisionId"])


def test_update_function_code(lam, name):
    z1 = make_zip({"index.py": "v = 1\n"})
    z2 = make_zip({"index.py": "v = 2\n"})
    z3 = make_zip({"index.py": "v = 3\n"})
    created = create(lam, name, z1)
    resp = lam.update_function_code(FunctionName=name, ZipFile=z2)
    assert_update_response(resp, created["RevisionId"])
    assert resp["CodeSha256"] == sha256_b64(z2) and resp["CodeSize"] == len(z2)
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == sha256_b64(z2)
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert requests.get(got["Code"]["Location"], timeout=30).content == z2

    # DryRun validates and changes nothing.
    before = lam.get_function_configuration(FunctionName=name)
    dry = lam.update_function_code(FunctionName=name, ZipFile=z3, DryRun=True)
    assert dry["ResponseMetadata"]["HTTPStatusCode"] == 200
    after = lam.get_function_configuration(FunctionName=name)
    assert after == before | {"ResponseMetadata": after["ResponseMetadata"]}
    assert lam.list_versions_by_function(FunctionName=name)["Versions"][-1]["Version"] == "$LATEST"

    # Stale RevisionId.
    expect_error(lam.update_function_code, "PreconditionFailedException", 412, REV_MSG,
                 FunctionName=name, ZipFile=z3, RevisionId=created["RevisionId"])
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha256_b64(z2)

    # Publish=True publishes the new code as version 1.
    pub = lam.update_function_code(FunctionName=name, ZipFile=z3, Publish=True,
                                   RevisionId=after["RevisionId"])
    assert pub["CodeSha256"] == sha256_b64(z3)
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    assert versions[1]["CodeSha256"] == sha256_b64(z3)
    v1 = lam.get_function(FunctionName=name, Qualifier="1")
    assert requests.get(v1["Code"]["Location"], timeout=30).content == z3


def test_update_missing_function(lam):
    n = unique("missing")
    expect_error(lam.update_function_configuration, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(n)}", FunctionName=n, Timeout=5)
    expect_error(lam.update_function_code, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(n)}", FunctionName=n, ZipFile=make_zip())


def test_publish_versions(lam, name):
    z1 = make_zip({"index.py": "v = 1\n"})
    created = create(lam, name, z1, Description="base")
    arn = function_arn(name)
    v1 = lam.publish_version(FunctionName=name)
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1"
    assert v1["FunctionArn"] == f"{arn}:1"
    assert v1["CodeSha256"] == sha256_b64(z1)
    assert v1["Description"] == "base"
    # AWS's recordings (test_function_revisions_version_and_alias): PublishVersion
    # answers with the version Active and Successful, under the id reads show.
    assert v1["State"] == "Active" and v1["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in v1
    assert (lam.get_function_configuration(FunctionName=name, Qualifier="1")["RevisionId"]
            == v1["RevisionId"])
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["State"] == "Active"
    # No-op publish returns the same version.
    again = lam.publish_version(FunctionName=name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert again["Version"] == "1" and again["RevisionId"] == v1["RevisionId"]

    # CodeSha256 mismatch.
    cur = sha256_b64(z1)
    wrong = sha256_b64(b"something else")
    lam.update_function_configuration(FunctionName=name, Timeout=10)
    expect_error(
        lam.publish_version, "InvalidParameterValueException", 400,
        f"CodeSHA256 ({wrong}) is different from current CodeSHA256 in $LATEST ({cur}). "
        "Please try again with the CodeSHA256 in $LATEST.",
        FunctionName=name, CodeSha256=wrong)
    # Stale RevisionId.
    expect_error(lam.publish_version, "PreconditionFailedException", 412, REV_MSG,
                 FunctionName=name, RevisionId=created["RevisionId"])
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] \
        == ["$LATEST", "1"]
    rev = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    v2 = lam.publish_version(FunctionName=name, CodeSha256=cur, RevisionId=rev,
                             Description="second")
    assert v2["Version"] == "2" and v2["Description"] == "second" and v2["Timeout"] == 10
    # The version keeps its own config while $LATEST moves on.
    lam.update_function_configuration(FunctionName=name, Timeout=20)
    assert lam.get_function_configuration(FunctionName=name, Qualifier="2")["Timeout"] == 10
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3
    v3 = lam.publish_version(FunctionName=name)
    assert v3["Version"] == "3"

    # ListVersionsByFunction: $LATEST first with a :$LATEST ARN, then 1, 2, 3.
    lv = lam.list_versions_by_function(FunctionName=name)
    vs = lv["Versions"]
    assert [v["Version"] for v in vs] == ["$LATEST", "1", "2", "3"]
    assert vs[0]["FunctionArn"] == f"{arn}:$LATEST"
    assert [v["FunctionArn"] for v in vs[1:]] == [f"{arn}:1", f"{arn}:2", f"{arn}:3"]
    for v in vs:
        assert "State" not in v and "LastUpdateStatus" not in v
    # Pagination.
    seen, marker = [], None
    while True:
        kw = {"FunctionName": name, "MaxItems": 1}
        if marker:
            kw["Marker"] = marker
        page = lam.list_versions_by_function(**kw)
        assert len(page["Versions"]) == 1
        seen += [v["Version"] for v in page["Versions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2", "3"]
    pag = [v["Version"] for p in lam.get_paginator("list_versions_by_function").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 3}) for v in p["Versions"]]
    assert pag == ["$LATEST", "1", "2", "3"]

    # Deleting versions.
    expect_error(lam.delete_function, "InvalidParameterValueException", 400,
                 "$LATEST version cannot be deleted without deleting the function.",
                 FunctionName=name, Qualifier="$LATEST")
    d = lam.delete_function(FunctionName=name, Qualifier="3")
    assert d["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    expect_error(lam.get_function, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}:3", FunctionName=name, Qualifier="3")
    # Numbers are never reused.
    lam.update_function_configuration(FunctionName=name, Timeout=30)
    v4 = lam.publish_version(FunctionName=name)
    assert v4["Version"] == "4"
    lam.delete_function(FunctionName=f"{name}:4")
    lam.update_function_configuration(FunctionName=name, Timeout=31)
    assert lam.publish_version(FunctionName=name)["Version"] == "5"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] \
        == ["$LATEST", "1", "2", "5"]
    # Deleting the whole function removes everything.
    lam.delete_function(FunctionName=name)
    expect_error(lam.get_function, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}", FunctionName=name)
    expect_error(lam.list_versions_by_function, "ResourceNotFoundException", 404,
                 FunctionName=name)
    # A new function of the same name starts from version 1 again.
    create(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "1"


def test_publish_missing_function(lam):
    n = unique("missing")
    expect_error(lam.publish_version, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(n)}", FunctionName=n)
