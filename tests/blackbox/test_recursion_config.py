"""Put/GetFunctionRecursionConfig against the recorded AWS answers
(test_lambda_api.py::TestLambdaRecursion::*) and the model's constraints."""

from bb_support import create, error_of, expect_error, function_arn, unique

import pytest
from botocore.exceptions import ClientError


def test_put_function_recursion_config_allow(lam):
    """Scenario TestLambdaRecursion::test_put_function_recursion_config_allow."""
    name = unique("rec")
    create(lam, name)
    put = lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k: v for k, v in put.items() if k != "ResponseMetadata"} == {"RecursiveLoop": "Allow"}
    got = lam.get_function_recursion_config(FunctionName=name)
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == {"RecursiveLoop": "Allow"}
    # By ARN too, and back to Terminate.
    lam.put_function_recursion_config(FunctionName=function_arn(name), RecursiveLoop="Terminate")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_put_function_recursion_config_default_terminate(lam):
    """Scenario TestLambdaRecursion::test_put_function_recursion_config_default_terminate."""
    name = unique("rec")
    create(lam, name)
    got = lam.get_function_recursion_config(FunctionName=name)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == {
        "RecursiveLoop": "Terminate"}


def test_put_function_recursion_config_invalid_value(raw_lam, lam):
    """Scenario TestLambdaRecursion::test_put_function_recursion_config_invalid_value."""
    name = unique("rec")
    create(lam, name)
    with pytest.raises(ClientError) as ei:
        raw_lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="InvalidValue")
    code, status, message, resp = error_of(ei)
    assert (code, status) == ("ValidationException", 400)
    assert message == ("1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' "
                       "failed to satisfy constraint: Member must satisfy enum value set: "
                       "[Terminate, Allow]")
    # Nothing changed.
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_unknown_functions_qualified_names_and_deleted_functions(lam, raw_lam):
    missing = unique("nope")
    for call in (lambda: lam.get_function_recursion_config(FunctionName=missing),
                 lambda: lam.put_function_recursion_config(FunctionName=missing,
                                                           RecursiveLoop="Allow")):
        with pytest.raises(ClientError) as ei:
            call()
        code, status, message, _ = error_of(ei)
        assert (code, status) == ("ResourceNotFoundException", 404)
        assert message == f"Function not found: {function_arn(missing)}"
    name = unique("rec")
    create(lam, name)
    expect_error(raw_lam.get_function_recursion_config, "ValidationException", 400,
                 FunctionName=f"{name}:1")
    # A function created again under a deleted one's name starts from the default.
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lam.delete_function(FunctionName=name)
    create(lam, name)
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
