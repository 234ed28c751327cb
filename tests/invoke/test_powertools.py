"""Powertools for AWS Lambda (Python) inside a function, as on Lambda: its Tracer (on
aws-xray-sdk) finds the invocation's trace instead of reporting "Lambda worker still
initializing" or a missing context, and its Logger's records carry `xray_trace_id` (the
invocation's root). The packages come from the wheel cache `tests/invoke/setup.sh` fills."""

import json
import os
import re

import pytest

from .invoke_support import HERE, invoke, zip_dir

CACHE = os.path.join(HERE, ".cache", "powertools")
# The lineage of recursive loop detection (flint-invoke's recursion.rs) rides at the end.
TRACE = re.compile(r"^Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=([01])"
                   r"(?:;Lineage=[0-9a-f]{8}:[0-9]+(?:\|[0-9a-f]{8}:[0-9]+)*)?$")

APP = """
import os
from aws_lambda_powertools import Logger, Tracer

logger = Logger(service="flint-powertools")
tracer = Tracer(service="flint-powertools")


@tracer.capture_method
def inner(n):
    tracer.put_annotation(key="n", value=n)
    return n * 2


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event, context):
    logger.info("traced", extra={"doubled": inner(21)})
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID"), "request_id": context.aws_request_id}
"""

# What aws-xray-sdk says when it cannot find the invocation's trace.
TRACE_ERRORS = ("Lambda worker still initializing", "cannot find the current segment",
                "SegmentNotFoundException", "Traceback", "Failed to send entity")

_ZIP = []


def powertools_zip():
    if not os.path.isdir(os.path.join(CACHE, "aws_lambda_powertools")):
        pytest.fail("aws-lambda-powertools is not in tests/invoke/.cache: run tests/invoke/setup.sh")
    if not _ZIP:
        _ZIP.append(zip_dir(CACHE, extra={"app.py": APP}))
    return _ZIP[0]


def records(log):
    """The JSON records among the log's lines."""
    out = []
    for line in log.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@pytest.mark.parametrize("mode", ["PassThrough", "Active"])
def test_tracer_and_logger_see_the_invocations_trace(lam, fn, mode):
    name = fn("powertools", zip_bytes=powertools_zip(), runtime="python3.11",
              handler="app.handler", MemorySize=256, Timeout=20,
              TracingConfig={"Mode": mode})
    for _ in range(2):  # cold, then warm: each invocation its own trace
        r = invoke(lam, name, {"n": 1}, LogType="Tail")
        assert r.status == 200 and r.function_error is None, r
        trace = TRACE.match(r.json["trace"] or "")
        assert trace, r
        assert trace.group(3) == ("1" if mode == "Active" else "0"), r
        for needle in TRACE_ERRORS:
            assert needle not in r.log, (needle, r.log)
        traced = [rec for rec in records(r.log) if rec.get("message") == "traced"]
        assert len(traced) == 1, r.log
        rec = traced[0]
        assert rec["xray_trace_id"] == trace.group(1), rec
        assert rec["function_request_id"] == r.json["request_id"], rec
        assert rec["doubled"] == 42 and rec["cold_start"] in (True, False), rec
