"""Scaling, concurrency limits and provisioned concurrency, through boto3 and
raw HTTP against a real `flint serve`: parallel invocations overlap, reserved
concurrency caps them with Lambda's exact 429, reserved 0 throttles
everything, provisioned environments are initialised before the first invoke
(no `Init Duration`, `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`)
and the excess spills over to on-demand environments."""

import json
import threading
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from .invoke_support import invoke, report_fields

# Records when it started and ended, and how its environment was initialised.
PY_TIMED = """
import os, time

def handler(event, context):
    start = time.time()
    time.sleep(event.get("seconds", 0))
    return {"start": start, "end": time.time(),
            "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"""

THROTTLE_MESSAGE = "Rate Exceeded."


def timed(fn, **kw):
    return fn("timed", {"index.py": PY_TIMED}, Timeout=30, **kw)


def raw_invoke(lam, name, event, qualifier=None):
    """POST Invoke without an SDK: (status, headers, body bytes)."""
    url = f"{lam.meta.endpoint_url}/2015-03-31/functions/{name}/invocations"
    if qualifier:
        url += f"?Qualifier={qualifier}"
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def concurrency_view(lam):
    with urllib.request.urlopen(f"{lam.meta.endpoint_url}/_flint/concurrency", timeout=10) as r:
        return json.loads(r.read())


def function_view(lam, name):
    for f in concurrency_view(lam)["Functions"]:
        if f["FunctionName"] == name:
            return f
    return None


def in_background(target, n):
    """Runs `target()` n times in parallel threads; returns (threads, results)."""
    results = [None] * n

    def run(i):
        try:
            results[i] = target()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def wait_in_flight(lam, name, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        f = function_view(lam, name)
        if f and f["InFlight"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never had {n} invocations in flight: {function_view(lam, name)}")


def wait_status(lam, name, qualifier, status, timeout=90):
    deadline = time.time() + timeout
    while True:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if cfg["Status"] == status:
            return cfg
        if cfg["Status"] == "FAILED" or time.time() > deadline:
            raise AssertionError(f"{name}:{qualifier} is {cfg}, waited for {status}")
        time.sleep(0.1)


def assert_throttle_body(status, headers, body, reason):
    assert status == 429, (status, body)
    assert headers.get("x-amzn-errortype") == "TooManyRequestsException", headers
    assert json.loads(body) == {"Reason": reason, "Type": "User", "message": THROTTLE_MESSAGE}


def test_parallel_invocations_run_in_parallel_environments(lam, fn):
    name = timed(fn)
    n = 6
    threads, results = in_background(lambda: invoke(lam, name, {"seconds": 2}), n)
    for t in threads:
        t.join()
    bodies = []
    for r in results:
        assert not isinstance(r, Exception), r
        assert r.status == 200 and r.function_error is None, r
        bodies.append(r.json)
    # Every invocation started before any of them ended: they all overlapped.
    assert max(b["start"] for b in bodies) < min(b["end"] for b in bodies), bodies
    assert {b["init"] for b in bodies} == {"on-demand"}


def test_reserved_concurrency_caps_and_the_excess_gets_lambdas_429(lam, fn):
    name = timed(fn)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    threads, results = in_background(lambda: invoke(lam, name, {"seconds": 4}), 2)
    wait_in_flight(lam, name, 2)
    status, headers, body = raw_invoke(lam, name, {})
    assert_throttle_body(status, headers, body,
                         "ReservedFunctionConcurrentInvocationLimitExceeded")
    # boto3 sees the same modelled error.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    for t in threads:
        t.join()
    assert all(r.status == 200 and r.function_error is None for r in results), results
    assert function_view(lam, name)["Throttles"] >= 2
    # Capacity freed: the next one runs.
    assert invoke(lam, name, {}).status == 200
    # Without the reservation the cap is gone.
    lam.delete_function_concurrency(FunctionName=name)
    threads, results = in_background(lambda: invoke(lam, name, {"seconds": 1}), 3)
    for t in threads:
        t.join()
    assert all(r.status == 200 for r in results), results


def test_reserved_zero_throttles_everything(lam, fn):
    name = timed(fn)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for _ in range(2):
        status, headers, body = raw_invoke(lam, name, {})
        assert_throttle_body(status, headers, body,
                             "ReservedFunctionConcurrentInvocationLimitExceeded")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert invoke(lam, name, {}).status == 200


def test_provisioned_environments_are_ready_before_the_first_invoke(lam, fn):
    name = timed(fn)
    version = lam.publish_version(FunctionName=name)["Version"]
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=2)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] == "IN_PROGRESS"
    assert put["AllocatedProvisionedConcurrentExecutions"] == 0
    cfg = wait_status(lam, name, version, "READY")
    assert cfg["AllocatedProvisionedConcurrentExecutions"] == 2
    assert cfg["AvailableProvisionedConcurrentExecutions"] == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    [item] = listed["ProvisionedConcurrencyConfigs"]
    assert item["FunctionArn"].endswith(f":function:{name}:{version}")
    assert item["Status"] == "READY"
    assert function_view(lam, name)["ProvisionedReady"] == 2

    r = invoke(lam, name, {}, Qualifier=version, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    assert r.json["init"] == "provisioned-concurrency"
    assert "Init Duration" not in report_fields(r.log), r.log
    # $LATEST is not provisioned: it cold-starts on demand.
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.json["init"] == "on-demand"
    assert "Init Duration" in report_fields(r.log)

    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert e.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert e.value.response["Error"]["Message"] == \
        "No Provisioned Concurrency Config found for this function"
    assert lam.list_provisioned_concurrency_configs(
        FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_alias_serves_first_and_spills_over_to_on_demand(lam, fn):
    name = timed(fn)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, "live", "READY")
    threads, results = in_background(
        lambda: invoke(lam, name, {"seconds": 2}, Qualifier="live"), 2)
    for t in threads:
        t.join()
    inits = sorted(r.json["init"] for r in results)
    assert inits == ["on-demand", "provisioned-concurrency"], results
    # Deleting the alias drains its provisioned environments.
    lam.delete_alias(FunctionName=name, Name="live")
    f = function_view(lam, name)
    assert f["Provisioned"] == 0 and f["ProvisionedReady"] == 0, f


def test_provisioned_alias_serves_its_version_whether_invoked_through_alias_or_version(lam, fn):
    # Issue 13: an invocation served by a provisioned environment sees
    # AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency whether it came through the alias
    # or the version the alias points to.
    name = timed(fn)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, "live", "READY")
    for qualifier in [version, "live", version, f"{name}:{version}"]:
        if ":" in qualifier:  # the qualified name form
            r = invoke(lam, qualifier, {}, LogType="Tail")
        else:
            r = invoke(lam, name, {}, Qualifier=qualifier, LogType="Tail")
        assert r.function_error is None, r
        assert r.executed_version == version, r
        assert r.json["init"] == "provisioned-concurrency", (qualifier, r.json)
        assert "Init Duration" not in r.log, r.log
    # $LATEST is not what the alias runs: on demand.
    assert invoke(lam, name, {}).json["init"] == "on-demand"


def test_provisioned_concurrency_rules(lam, fn):
    name = timed(fn)
    version = lam.publish_version(FunctionName=name)["Version"]

    def error(**kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.put_provisioned_concurrency_config(FunctionName=name, **kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    assert error(Qualifier="$LATEST", ProvisionedConcurrentExecutions=1) == (
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
    code, message = error(Qualifier="99", ProvisionedConcurrentExecutions=1)
    assert code == "ResourceNotFoundException" and message.endswith(f"function:{name}:99")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert error(Qualifier=version, ProvisionedConcurrentExecutions=2) == (
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the "
        "reservedConcurrentExecution for function")
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert e.value.response["Error"]["Message"] == (
        "ReservedConcurrentExecutions 0 should not be lower than function's total "
        "provisioned concurrency [1].")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    assert error(Qualifier="live", ProvisionedConcurrentExecutions=1) == (
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already "
        "Provisioned version")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    # Deleting the function removes its configurations and environments.
    wait_status(lam, name, version, "READY")
    lam.delete_function(FunctionName=name)
    assert function_view(lam, name) is None


def test_a_failing_init_marks_provisioned_concurrency_failed(lam, fn):
    name = fn("bad-init", {"index.py": "raise RuntimeError('boom at import')\n"})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    deadline = time.time() + 60
    while True:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
        if cfg["Status"] != "IN_PROGRESS" or time.time() > deadline:
            break
        time.sleep(0.1)
    assert cfg["Status"] == "FAILED", cfg
    assert cfg["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE", cfg


def test_provisioned_environments_come_back_after_a_restart(make_server):
    s = make_server()
    lam = s.client()
    from .invoke_support import create_function, unique
    name = unique("restart-pc")
    create_function(lam, name, {"index.py": PY_TIMED}, Timeout=30)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, version, "READY")
    s.stop()
    s.start()
    lam = s.client()
    # Re-created from the stored configuration, before any invocation.
    wait_status(lam, name, version, "READY")
    f = function_view(lam, name)
    assert f["Reserved"] == 3 and f["ProvisionedReady"] == 1, f
    r = invoke(lam, name, {}, Qualifier=version, LogType="Tail")
    assert r.json["init"] == "provisioned-concurrency"
    assert "Init Duration" not in report_fields(r.log)
