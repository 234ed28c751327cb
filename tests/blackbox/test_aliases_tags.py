"""Aliases with routing, tags, account settings and reserved concurrency."""

import pytest

from bb_support import (ROLE, create, error_of, expect_error, function_arn,
                      make_zip, unique)

REV_MSG = ("The Revision Id provided does not match the latest Revision Id. "
           "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")


def with_versions(lam, name, n):
    create(lam, name)
    for i in range(n):
        lam.update_function_configuration(FunctionName=name, Description=f"d{i}")
        assert lam.publish_version(FunctionName=name)["Version"] == str(i + 1)


def test_alias_lifecycle(lam, name):
    with_versions(lam, name, 3)
    arn = function_arn(name)
    a = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                         Description="prod", RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    assert a["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert a["AliasArn"] == f"{arn}:live"
    assert a["Name"] == "live" and a["FunctionVersion"] == "1" and a["Description"] == "prod"
    assert a["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert len(a["RevisionId"]) == 36

    g = lam.get_alias(FunctionName=name, Name="live")
    for k in ("AliasArn", "Name", "FunctionVersion", "Description", "RoutingConfig", "RevisionId"):
        assert g[k] == a[k], k
    # GetAlias by ARN of the function.
    assert lam.get_alias(FunctionName=arn, Name="live")["AliasArn"] == a["AliasArn"]

    # GetFunctionConfiguration through the alias shows the alias's version.
    c = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert c["Version"] == "1" and c["FunctionArn"] in (f"{arn}:live", f"{arn}:1")
    c = lam.get_function_configuration(FunctionName=f"{arn}:live")
    assert c["Version"] == "1" and c["FunctionArn"] in (f"{arn}:live", f"{arn}:1")
    assert lam.get_function(FunctionName=f"{name}:live")["Configuration"]["Version"] == "1"

    # Update: stale RevisionId refused; then a real change.
    u = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="3",
                         RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId=a["RevisionId"])
    assert u["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert u["FunctionVersion"] == "3" and u["RevisionId"] != a["RevisionId"]
    assert u["Description"] == "prod"
    assert u.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}
    expect_error(lam.update_alias, "PreconditionFailedException", 412, REV_MSG,
                 FunctionName=name, Name="live", FunctionVersion="2", RevisionId=a["RevisionId"])
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "3"
    u2 = lam.update_alias(FunctionName=name, Name="live", Description="new")
    assert u2["FunctionVersion"] == "3" and u2["Description"] == "new"

    # More aliases and listing with the FunctionVersion filter.
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="2")
    lam.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    lam.create_alias(FunctionName=name, Name="old-3_x", FunctionVersion="3")
    allal = lam.list_aliases(FunctionName=name)["Aliases"]
    assert sorted(x["Name"] for x in allal) == ["beta", "edge", "live", "old-3_x"]
    only3 = lam.list_aliases(FunctionName=name, FunctionVersion="3")["Aliases"]
    assert sorted(x["Name"] for x in only3) == ["live", "old-3_x"]
    latest = lam.list_aliases(FunctionName=name, FunctionVersion="$LATEST")["Aliases"]
    assert [x["Name"] for x in latest] == ["edge"]
    pages = [x["Name"] for p in lam.get_paginator("list_aliases").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}) for x in p["Aliases"]]
    assert sorted(pages) == ["beta", "edge", "live", "old-3_x"] and len(pages) == 4

    # Deleting a version an alias points to is refused.
    with pytest.raises(Exception) as ei:
        lam.delete_function(FunctionName=name, Qualifier="2")
    err = ei.value.response
    assert err["Error"]["Code"] == "ResourceConflictException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert lam.get_function_configuration(FunctionName=name, Qualifier="2")["Version"] == "2"

    # Delete alias.
    d = lam.delete_alias(FunctionName=name, Name="beta")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(lam.get_alias, "ResourceNotFoundException", 404,
                 f"Cannot find alias arn: {arn}:beta", FunctionName=name, Name="beta")
    lam.delete_function(FunctionName=name, Qualifier="2")  # now free
    # Deleting the function deletes aliases with it.
    lam.delete_function(FunctionName=name)
    create(lam, name)
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


def test_alias_rules(lam, raw_lam, name):
    with_versions(lam, name, 3)
    arn = function_arn(name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    before = lam.list_aliases(FunctionName=name)["Aliases"]

    # Purely numeric alias name.
    expect_error(raw_lam.create_alias, "ValidationException", 400,
                 FunctionName=name, Name="123", FunctionVersion="1")
    # Unknown version.
    expect_error(lam.create_alias, "ResourceNotFoundException", 404,
                 FunctionName=name, Name="ghost", FunctionVersion="9")
    # Weight above 1.
    expect_error(raw_lam.create_alias, "ValidationException", 400,
                 FunctionName=name, Name="heavy", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}})
    # Two additional versions.
    expect_error(lam.create_alias, "InvalidParameterValueException", 400,
                 "Number of items in AdditionalVersionWeights cannot be greater than 1",
                 FunctionName=name, Name="two", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})
    # $LATEST as primary with routing.
    m, _ = expect_error(lam.create_alias, "InvalidParameterValueException", 400,
                        FunctionName=name, Name="latest-split", FunctionVersion="$LATEST",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert m == "$LATEST is not supported for an alias pointing to more than 1 version", m
    # $LATEST as the additional version (model: key pattern [0-9]+).
    expect_error(raw_lam.create_alias, "ValidationException", 400,
                 FunctionName=name, Name="latest-add", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}})
    # Additional == primary.
    expect_error(lam.create_alias, "InvalidParameterValueException", 400,
                 "Invalid function version 1. Function version 1 is already included in "
                 "routing configuration.",
                 FunctionName=name, Name="same", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    # Duplicate alias.
    expect_error(lam.create_alias, "ResourceConflictException", 409,
                 f"Alias already exists: {arn}:live",
                 FunctionName=name, Name="live", FunctionVersion="2")
    # Missing alias.
    expect_error(lam.get_alias, "ResourceNotFoundException", 404,
                 f"Cannot find alias arn: {arn}:nope", FunctionName=name, Name="nope")
    expect_error(lam.update_alias, "ResourceNotFoundException", 404,
                 FunctionName=name, Name="nope", FunctionVersion="1")
    # DeleteAlias of a missing alias: the facts do not pin AWS's answer
    # (idempotent 204 or 404); either is accepted, nothing may change.
    try:
        d = lam.delete_alias(FunctionName=name, Name="nope")
        assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    except Exception as e:  # noqa: BLE001
        assert error_of(e)[:2] == ("ResourceNotFoundException", 404)
    # Alias on a missing function: named with the version asked for (AWS's recorded
    # test_notfound_and_invalid_routingconfigs).
    missing = unique("missing")
    expect_error(lam.create_alias, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn(missing)}:1",
                 FunctionName=missing, Name="a", FunctionVersion="1")
    # Update to an unknown version / bad routing.
    expect_error(lam.update_alias, "ResourceNotFoundException", 404,
                 FunctionName=name, Name="live", FunctionVersion="42")
    expect_error(lam.update_alias, "InvalidParameterValueException", 400,
                 FunctionName=name, Name="live",
                 RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    expect_error(raw_lam.create_alias, "ValidationException", 400,
                 FunctionName=name, Name="neg", FunctionVersion="1",
                 RoutingConfig={"AdditionalVersionWeights": {"2": -0.1}})
    expect_error(lam.create_alias, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}:9", FunctionName=name, Name="unk",
                 FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"9": 0.1}})
    # Nothing changed.
    assert lam.list_aliases(FunctionName=name)["Aliases"] == before
    # Updates keep the routing: moving the primary onto $LATEST or onto the
    # additional version is refused; the additional version can't be deleted.
    routed = lam.update_alias(FunctionName=name, Name="live",
                              RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    expect_error(lam.update_alias, "InvalidParameterValueException", 400,
                 "$LATEST is not supported for an alias pointing to more than 1 version",
                 FunctionName=name, Name="live", FunctionVersion="$LATEST")
    expect_error(lam.update_alias, "InvalidParameterValueException", 400,
                 "Invalid function version 2. Function version 2 is already included in "
                 "routing configuration.",
                 FunctionName=name, Name="live", FunctionVersion="2")
    expect_error(lam.delete_function, "ResourceConflictException", 409,
                 FunctionName=name, Qualifier="2")
    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["RevisionId"] == routed["RevisionId"] and got["FunctionVersion"] == "1"
    assert got["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={})
    # Valid edge weights.
    ok = lam.create_alias(FunctionName=name, Name="full", FunctionVersion="1",
                          RoutingConfig={"AdditionalVersionWeights": {"3": 1.0}})
    assert ok["RoutingConfig"]["AdditionalVersionWeights"] == {"3": 1.0}


def test_tags(lam, raw_lam, name):
    create(lam, name, Tags={"team": "core", "env": "dev"})
    arn = function_arn(name)
    got = lam.get_function(FunctionName=name)
    assert got["Tags"] == {"team": "core", "env": "dev"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "dev"}

    r = lam.tag_resource(Resource=arn, Tags={"env": "prod", "owner": "me"})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "prod", "owner": "me"}
    r = lam.untag_resource(Resource=arn, TagKeys=["team", "owner", "absent"])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"env": "prod"}

    # Qualified ARNs are refused.
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    msg = ("Tags on function aliases and versions are not supported. "
           "Please specify a function ARN.")
    for q in (f"{arn}:1", f"{arn}:live", f"{arn}:$LATEST"):
        expect_error(lam.tag_resource, "InvalidParameterValueException", 400, msg,
                     Resource=q, Tags={"a": "b"})
    expect_error(lam.list_tags, "InvalidParameterValueException", 400, msg, Resource=f"{arn}:1")
    expect_error(lam.untag_resource, "InvalidParameterValueException", 400, msg,
                 Resource=f"{arn}:live", TagKeys=["env"])

    # More than 50 tags in total.
    many = {f"k{i}": "v" for i in range(50)}
    expect_error(lam.tag_resource, "InvalidParameterValueException", 400,
                 "Number of tags exceeds resource tag limit.", Resource=arn, Tags=many)
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}
    lam.tag_resource(Resource=arn, Tags={f"k{i}": "v" for i in range(49)})
    assert len(lam.list_tags(Resource=arn)["Tags"]) == 50
    expect_error(lam.tag_resource, "InvalidParameterValueException", 400,
                 "Number of tags exceeds resource tag limit.", Resource=arn, Tags={"one": "more"})
    # Overwriting an existing key within the limit is fine.
    lam.tag_resource(Resource=arn, Tags={"k0": "changed"})
    assert lam.list_tags(Resource=arn)["Tags"]["k0"] == "changed"

    # Create with 51 tags.
    n2 = unique()
    expect_error(lam.create_function, "InvalidParameterValueException", 400,
                 "Number of tags exceeds resource tag limit.",
                 FunctionName=n2, Runtime="python3.12", Role=ROLE, Handler="i.h",
                 Code={"ZipFile": make_zip()}, Tags={f"k{i}": "v" for i in range(51)})
    expect_error(lam.get_function, "ResourceNotFoundException", 404, FunctionName=n2)

    # Missing function.
    missing = function_arn(unique("missing"))
    expect_error(lam.list_tags, "ResourceNotFoundException", 404, Resource=missing)
    expect_error(lam.tag_resource, "ResourceNotFoundException", 404, Resource=missing,
                 Tags={"a": "b"})


def test_account_settings_and_concurrency(fresh):
    lam = fresh.client()
    raw = fresh.client(validate=False)
    s = lam.get_account_settings()
    assert s["AccountLimit"] == {
        "TotalCodeSize": 80530636800,
        "CodeSizeUnzipped": 262144000,
        "CodeSizeZipped": 52428800,
        "ConcurrentExecutions": 1000,
        "UnreservedConcurrentExecutions": 1000,
    }
    assert s["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}

    za = make_zip({"a.py": "a" * 1000})
    zb = make_zip({"b.py": "b = 2\n"})
    create(lam, "acct-a", za)
    create(lam, "acct-b", zb)
    s = lam.get_account_settings()
    assert s["AccountUsage"] == {"TotalCodeSize": len(za) + len(zb), "FunctionCount": 2}

    # Reserved concurrency.
    assert lam.get_function_concurrency(FunctionName="acct-a").get(
        "ReservedConcurrentExecutions") is None
    r = lam.put_function_concurrency(FunctionName="acct-a", ReservedConcurrentExecutions=300)
    assert r["ReservedConcurrentExecutions"] == 300
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert lam.get_function_concurrency(FunctionName="acct-a")["ReservedConcurrentExecutions"] == 300
    assert lam.get_function(FunctionName="acct-a")["Concurrency"] == {
        "ReservedConcurrentExecutions": 300}
    assert "Concurrency" not in lam.get_function(FunctionName="acct-b")
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 700

    # Below the minimum unreserved (100).
    below = ("Specified ReservedConcurrentExecutions for function decreases account's "
             "UnreservedConcurrentExecution below its minimum value of [100].")
    expect_error(lam.put_function_concurrency, "InvalidParameterValueException", 400, below,
                 FunctionName="acct-b", ReservedConcurrentExecutions=601)
    expect_error(lam.put_function_concurrency, "InvalidParameterValueException", 400, below,
                 FunctionName="acct-a", ReservedConcurrentExecutions=901)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 700
    # Exactly to the minimum is fine (replacing a's own reservation).
    lam.put_function_concurrency(FunctionName="acct-b", ReservedConcurrentExecutions=600)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    # Reserved 0.
    r = lam.put_function_concurrency(FunctionName="acct-b", ReservedConcurrentExecutions=0)
    assert r["ReservedConcurrentExecutions"] == 0
    assert lam.get_function_concurrency(FunctionName="acct-b")["ReservedConcurrentExecutions"] == 0
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 700
    # Negative.
    expect_error(raw.put_function_concurrency, "ValidationException", 400,
                 FunctionName="acct-b", ReservedConcurrentExecutions=-1)
    # Delete.
    d = lam.delete_function_concurrency(FunctionName="acct-a")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.get_function_concurrency(FunctionName="acct-a").get(
        "ReservedConcurrentExecutions") is None
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    # Missing function.
    # Named as `:$LATEST`, as AWS does (its recorded test_function_concurrency_exceptions).
    expect_error(lam.put_function_concurrency, "ResourceNotFoundException", 404,
                 f"Function not found: {function_arn('nope')}:$LATEST",
                 FunctionName="nope", ReservedConcurrentExecutions=1)
    # Deleting a function releases its reservation and its code size.
    lam.put_function_concurrency(FunctionName="acct-a", ReservedConcurrentExecutions=50)
    lam.delete_function(FunctionName="acct-a")
    s = lam.get_account_settings()
    assert s["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert s["AccountUsage"] == {"TotalCodeSize": len(zb), "FunctionCount": 1}
    # Published versions count towards the code size.
    lam.publish_version(FunctionName="acct-b")
    s = lam.get_account_settings()
    assert s["AccountUsage"]["FunctionCount"] == 1
    assert s["AccountUsage"]["TotalCodeSize"] in (len(zb), 2 * len(zb))


def test_recreated_function_inherits_nothing(lam, name):
    """DeleteFunction removes versions, aliases, tags and the reservation:
    a new function of the same name starts clean."""
    create(lam, name, Tags={"old": "yes"})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    lam.delete_function(FunctionName=name)
    create(lam, name)
    got = lam.get_function(FunctionName=name)
    assert got.get("Tags", {}) == {}
    assert "Concurrency" not in got
    assert lam.list_tags(Resource=function_arn(name))["Tags"] == {}
    assert lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] \
        == ["$LATEST"]
    expect_error(lam.get_alias, "ResourceNotFoundException", 404,
                 f"Cannot find alias arn: {function_arn(name)}:live", FunctionName=name,
                 Name="live")
