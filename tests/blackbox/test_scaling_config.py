"""Put/GetFunctionScalingConfig (model 2025-11-30, Lambda Managed Instances): flint has no
capacity providers, so every function is refused after the model's checks."""

import pytest
from botocore.exceptions import ClientError

from bb_support import create, error_of, expect_error, function_arn, unique


def test_a_function_without_capacity_provider_has_no_scaling_config(lam):
    name = unique("scale")
    create(lam, name)
    v = lam.publish_version(FunctionName=name)["Version"]
    for call in (lambda: lam.get_function_scaling_config(FunctionName=name, Qualifier=v),
                 lambda: lam.put_function_scaling_config(
                     FunctionName=name, Qualifier=v,
                     FunctionScalingConfig={"MinExecutionEnvironments": 1,
                                            "MaxExecutionEnvironments": 2})):
        with pytest.raises(ClientError) as ei:
            call()
        code, status, message, _ = error_of(ei)
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert "Lambda Managed Instances" in message and function_arn(name) in message


def test_the_models_checks_come_first(lam, raw_lam):
    name = unique("scale")
    create(lam, name)
    expect_error(raw_lam.get_function_scaling_config, "ValidationException", 400,
                 contains="Value '$LATEST' at 'qualifier' failed to satisfy constraint",
                 FunctionName=name, Qualifier="$LATEST")
    expect_error(raw_lam.put_function_scaling_config, "ValidationException", 400,
                 contains="at 'functionScalingConfig.maxExecutionEnvironments' failed",
                 FunctionName=name, Qualifier="1",
                 FunctionScalingConfig={"MaxExecutionEnvironments": 15001})
    expect_error(lam.get_function_scaling_config, "ResourceNotFoundException", 404,
                 message=f"Function not found: {function_arn(name)}:7",
                 FunctionName=name, Qualifier="7")
    missing = unique("nope")
    expect_error(lam.get_function_scaling_config, "ResourceNotFoundException", 404,
                 message=f"Function not found: {function_arn(missing)}",
                 FunctionName=missing, Qualifier="1")
