"""Resource-based policies: AddPermission, GetPolicy and RemovePermission through boto3 and the
AWS CLI, with Lambda's statement shapes, qualifiers, revision ids and errors."""

import json

from bb_support import create, expect_error, function_arn

NO_POLICY = "No policy is associated with the given resource."
# GetPolicy on a resource without statements (AWS's recorded
# test_remove_multi_permissions, test_lambda_permission_versioning).
GET_NO_POLICY = "The resource you requested does not exist."


def test_add_get_remove_with_lambdas_shapes(lam, name):
    create(lam, name)
    arn = function_arn(name)
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, GET_NO_POLICY, FunctionName=name)

    r = lam.add_permission(FunctionName=name, StatementId="s3-invoke",
                           Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                           SourceArn="arn:aws:s3:::my-bucket", SourceAccount="123456789012")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = json.loads(r["Statement"])
    assert statement == {
        "Sid": "s3-invoke", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}},
    }
    lam.add_permission(FunctionName=name, StatementId="account", Action="lambda:GetFunction",
                       Principal="111122223333")
    lam.add_permission(FunctionName=name, StatementId="public-url",
                       Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")

    p = lam.get_policy(FunctionName=name)
    policy = json.loads(p["Policy"])
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "default"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert sids == ["s3-invoke", "account", "public-url"]
    assert policy["Statement"][0] == statement
    assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert policy["Statement"][2]["Principal"] == "*"
    assert policy["Statement"][2]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert len(p["RevisionId"]) == 36

    # A duplicate statement id conflicts; nothing changes.
    expect_error(lam.add_permission, "ResourceConflictException", 409,
                 "The statement id (account) provided already exists. Please provide a new "
                 "statement id, or remove the existing statement.",
                 FunctionName=name, StatementId="account", Action="lambda:*", Principal="*")
    assert lam.get_policy(FunctionName=name)["RevisionId"] == p["RevisionId"]

    # Revision ids guard both writes.
    expect_error(lam.remove_permission, "PreconditionFailedException", 412,
                 FunctionName=name, StatementId="account", RevisionId="stale")
    expect_error(lam.add_permission, "PreconditionFailedException", 412,
                 FunctionName=name, StatementId="x", Action="lambda:*", Principal="*",
                 RevisionId="stale")
    r = lam.remove_permission(FunctionName=name, StatementId="account",
                              RevisionId=p["RevisionId"])
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    p2 = lam.get_policy(FunctionName=name)
    assert [s["Sid"] for s in json.loads(p2["Policy"])["Statement"]] == ["s3-invoke", "public-url"]
    assert p2["RevisionId"] != p["RevisionId"]
    expect_error(lam.remove_permission, "ResourceNotFoundException", 404,
                 "Statement account is not found in resource policy.",
                 FunctionName=name, StatementId="account")

    # Removing the last statement leaves no policy.
    lam.remove_permission(FunctionName=name, StatementId="s3-invoke")
    lam.remove_permission(FunctionName=name, StatementId="public-url")
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, GET_NO_POLICY, FunctionName=name)


def test_qualified_policies_are_their_own(lam, name):
    create(lam, name)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    r = lam.add_permission(FunctionName=name, Qualifier="live", StatementId="a",
                           Action="lambda:InvokeFunction", Principal="*")
    assert json.loads(r["Statement"])["Resource"] == f"{function_arn(name)}:live"
    lam.add_permission(FunctionName=f"{name}:1", StatementId="v",
                       Action="lambda:InvokeFunction", Principal="*")
    # The function's own policy is separate.
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, GET_NO_POLICY, FunctionName=name)
    live = json.loads(lam.get_policy(FunctionName=name, Qualifier="live")["Policy"])
    assert [s["Sid"] for s in live["Statement"]] == ["a"]
    v1 = json.loads(lam.get_policy(FunctionName=name, Qualifier="1")["Policy"])
    assert v1["Statement"][0]["Resource"] == f"{function_arn(name)}:1"
    expect_error(lam.add_permission, "InvalidParameterValueException", 400,
                 "We currently do not support adding policies for $LATEST.",
                 FunctionName=name, Qualifier="$LATEST", StatementId="l",
                 Action="lambda:InvokeFunction", Principal="*")
    expect_error(lam.add_permission, "ResourceNotFoundException", 404,
                 FunctionName=name, Qualifier="nope", StatementId="n",
                 Action="lambda:InvokeFunction", Principal="*")
    # Deleting the alias deletes its policy; a new alias of the same name starts empty.
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, GET_NO_POLICY,
                 FunctionName=name, Qualifier="live")
    # Deleting the function deletes every policy.
    lam.delete_function(FunctionName=name)
    create(lam, name)
    lam.publish_version(FunctionName=name)
    expect_error(lam.get_policy, "ResourceNotFoundException", 404, GET_NO_POLICY,
                 FunctionName=name, Qualifier="1")


def test_bad_requests_get_the_models_errors_and_change_nothing(raw_lam, name):
    create(raw_lam, name)
    expect_error(raw_lam.add_permission, "ValidationException", 400,
                 "1 validation error detected: Value 'bad id' at 'statementId' failed to satisfy "
                 "constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
                 FunctionName=name, StatementId="bad id", Action="lambda:InvokeFunction",
                 Principal="*")
    expect_error(raw_lam.add_permission, "ValidationException", 400,
                 contains="at 'action'", FunctionName=name, StatementId="a",
                 Action="s3:GetObject", Principal="*")
    expect_error(raw_lam.add_permission, "ValidationException", 400,
                 contains="at 'sourceAccount'", FunctionName=name, StatementId="a",
                 Action="lambda:InvokeFunction", Principal="*", SourceAccount="12")
    expect_error(raw_lam.add_permission, "ValidationException", 400,
                 contains="Member must satisfy enum value set: [NONE, AWS_IAM]",
                 FunctionName=name, StatementId="a", Action="lambda:InvokeFunctionUrl",
                 Principal="*", FunctionUrlAuthType="BASIC")
    expect_error(raw_lam.add_permission, "ResourceNotFoundException", 404,
                 FunctionName=name + "-missing", StatementId="a",
                 Action="lambda:InvokeFunction", Principal="*")
    # 20 KB: statements with long source ARNs until the limit.
    arn = "arn:aws:s3:::" + "b" * 900
    added = 0
    for i in range(40):
        try:
            raw_lam.add_permission(FunctionName=name, StatementId=f"s{i}",
                                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                                   SourceArn=arn)
            added += 1
        except raw_lam.exceptions.PolicyLengthExceededException as e:
            assert "is bigger than the limit (20480)" in e.response["Error"]["Message"]
            break
    else:
        raise AssertionError("the policy never reached its size limit")
    assert 10 < added < 40
    policy = json.loads(raw_lam.get_policy(FunctionName=name)["Policy"])
    assert len(policy["Statement"]) == added


def test_aws_cli_add_permission_and_get_policy(lam, aws, name):
    create(lam, name)
    out = aws("add-permission", "--function-name", name, "--statement-id", "cli",
              "--action", "lambda:InvokeFunction", "--principal", "events.amazonaws.com",
              "--source-arn", "arn:aws:events:us-east-1:123456789012:rule/r")
    assert json.loads(out.json["Statement"])["Principal"] == {"Service": "events.amazonaws.com"}
    got = aws("get-policy", "--function-name", name).json
    assert json.loads(got["Policy"])["Statement"][0]["Sid"] == "cli"
    aws("remove-permission", "--function-name", name, "--statement-id", "cli")
    failed = aws("get-policy", "--function-name", name, check=False)
    assert failed.returncode != 0 and "ResourceNotFoundException" in failed.stderr
