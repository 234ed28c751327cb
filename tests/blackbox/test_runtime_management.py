"""Put/GetRuntimeManagementConfig: the update modes of the model, the runtime version ARN
GetFunction reports (flint's one build of each runtime), and the model's constraints."""

import pytest
from botocore.exceptions import ClientError

from bb_support import create, error_of, expect_error, function_arn, unique


def _fields(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def test_the_default_is_auto_and_every_mode_round_trips(lam):
    name = unique("rtm")
    created = create(lam, name)
    runtime_arn = created["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert runtime_arn.startswith("arn:aws:lambda:us-east-1::runtime:")
    assert _fields(lam.get_runtime_management_config(FunctionName=name)) == {
        "UpdateRuntimeOn": "Auto", "FunctionArn": function_arn(name)}
    put = lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _fields(put) == {"UpdateRuntimeOn": "FunctionUpdate", "FunctionArn": function_arn(name)}
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "FunctionUpdate"
    put = lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual",
                                            RuntimeVersionArn=runtime_arn)
    assert _fields(put) == {"UpdateRuntimeOn": "Manual", "FunctionArn": function_arn(name),
                            "RuntimeVersionArn": runtime_arn}
    assert _fields(lam.get_runtime_management_config(FunctionName=name)) == _fields(put)
    lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Auto")
    assert "RuntimeVersionArn" not in lam.get_runtime_management_config(FunctionName=name)


def test_versions_have_their_own_setting(lam):
    name = unique("rtm")
    create(lam, name)
    v = lam.publish_version(FunctionName=name)["Version"]
    put = lam.put_runtime_management_config(FunctionName=name, Qualifier=v,
                                            UpdateRuntimeOn="FunctionUpdate")
    assert put["FunctionArn"] == f"{function_arn(name)}:{v}"
    assert lam.get_runtime_management_config(FunctionName=name, Qualifier=v)[
        "UpdateRuntimeOn"] == "FunctionUpdate"
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Auto"
    expect_error(lam.get_runtime_management_config, "ResourceNotFoundException", 404,
                 message=f"Function not found: {function_arn(name)}:99",
                 FunctionName=name, Qualifier="99")


def test_bad_input_is_refused_and_changes_nothing(lam, raw_lam):
    name = unique("rtm")
    create(lam, name)
    with pytest.raises(ClientError) as ei:
        raw_lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Sometimes")
    code, status, message, _ = error_of(ei)
    assert (code, status) == ("ValidationException", 400)
    assert message == ("1 validation error detected: Value 'Sometimes' at 'updateRuntimeOn' "
                       "failed to satisfy constraint: Member must satisfy enum value set: "
                       "[Auto, Manual, FunctionUpdate]")
    expect_error(raw_lam.put_runtime_management_config, "ValidationException", 400,
                 contains="at 'runtimeVersionArn' failed to satisfy constraint",
                 FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn="arn:aws:nope")
    expect_error(lam.put_runtime_management_config, "InvalidParameterValueException", 400,
                 FunctionName=name, UpdateRuntimeOn="Manual")
    expect_error(lam.put_runtime_management_config, "InvalidParameterValueException", 400,
                 FunctionName=name, UpdateRuntimeOn="Manual",
                 RuntimeVersionArn="arn:aws:lambda:us-east-1::runtime:" + "0" * 64)
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Auto"
    missing = unique("nope")
    expect_error(lam.get_runtime_management_config, "ResourceNotFoundException", 404,
                 message=f"Function not found: {function_arn(missing)}", FunctionName=missing)
