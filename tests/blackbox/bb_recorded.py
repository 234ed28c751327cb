"""Comparing flint's answers with the answers recorded from real AWS.

The recordings (`/work/shared/reference/aws-recorded/*.snapshot.json`, or
`$FLINT_AWS_RECORDED`) map a scenario name to the responses of its steps,
with run-dependent values replaced by placeholders (`<uuid:1>`,
`<function-name:1>`, `<resource:2>`, `date`, ...). `Recording` replays the
same normalisation on flint's answers: a placeholder binds to the value flint
gave the first time it is met, must have that same value wherever it appears
again, and two different placeholders of one kind (`<uuid:1>`, `<uuid:2>`)
must have different values (that is how a changed RevisionId is recorded).

Which members exist is compared too (an extra or missing key is a
difference); `ResponseMetadata` is compared on `HTTPStatusCode` only.
"""

import datetime
import json
import os
import re

import pytest
from botocore.exceptions import ClientError

from bb_support import ACCOUNT, REGION

RECORDED_DIR = os.environ.get("FLINT_AWS_RECORDED", "/work/shared/reference/aws-recorded")
RECORDED_ACCOUNT = "111111111111"
API_PREFIX = "tests/aws/services/lambda_/test_lambda_api.py::"
LAMBDA_PREFIX = "tests/aws/services/lambda_/test_lambda.py::"

_FILES = {}
# Scenarios the running test replayed (the survey reads them from user_properties).
STARTED = []
_PLACEHOLDER = re.compile(r"<[^<>\s]+>")


def _load(group):
    if group not in _FILES:
        path = os.path.join(RECORDED_DIR, f"{group}.snapshot.json")
        if not os.path.isfile(path):
            pytest.skip(f"AWS recordings not found at {path} (set FLINT_AWS_RECORDED)")
        with open(path) as f:
            _FILES[group] = json.load(f)
    return _FILES[group]


def _numbered(placeholder):
    """`<uuid:1>` binds a value; `<code-size>` only masks one."""
    return re.fullmatch(r"<[^:<>]+:\d+>", placeholder) is not None


def _kind(placeholder):
    inner = placeholder[1:-1]
    return inner.split(":", 1)[0]


class Recording:
    """One recorded scenario, checked step by step against flint's answers."""

    def __init__(self, scenario, group="test_lambda_api"):
        prefix = API_PREFIX if group == "test_lambda_api" else LAMBDA_PREFIX
        self.name = scenario
        STARTED.append(scenario)
        self.steps = _load(group)[prefix + scenario]["recorded-content"]
        self.bindings = {"<partition>": "aws", "<region>": REGION}
        self.differences = []

    # -- normalising flint's answer ------------------------------------------------

    @staticmethod
    def answer_of(value):
        """A boto3 answer (or ClientError) in the recording's form."""
        if isinstance(value, ClientError):
            value = value.response
        return _plain(value)

    # -- comparison ----------------------------------------------------------------

    def step(self, step, actual):
        """Compares one step; records the differences (see `done`)."""
        assert step in self.steps, f"{self.name}: no recorded step {step!r}"
        expected = self.steps[step]
        self._compare(expected, self.answer_of(actual), step)

    def check(self, step, actual):
        """Compares one step and fails at once on a difference."""
        before = len(self.differences)
        self.step(step, actual)
        if len(self.differences) > before:
            self.done()

    def done(self):
        if self.differences:
            pytest.fail(f"scenario {self.name} differs from AWS's recording:\n  "
                        + "\n  ".join(self.differences), pytrace=False)

    def _diff(self, path, text):
        self.differences.append(f"{path}: {text}")

    def _compare(self, expected, actual, path):
        if isinstance(expected, dict):
            if not isinstance(actual, dict):
                return self._diff(path, f"expected an object, got {actual!r}")
            if "ResponseMetadata" in expected:
                want = expected["ResponseMetadata"].get("HTTPStatusCode")
                got = (actual.get("ResponseMetadata") or {}).get("HTTPStatusCode")
                if want != got:
                    self._diff(f"{path}.HTTPStatusCode", f"expected {want}, got {got}")
            keys_e = set(expected) - {"ResponseMetadata"}
            keys_a = set(actual) - {"ResponseMetadata"}
            for k in sorted(keys_e - keys_a):
                self._diff(f"{path}.{k}", f"missing (AWS: {json.dumps(expected[k])[:200]})")
            for k in sorted(keys_a - keys_e):
                self._diff(f"{path}.{k}", f"not in AWS's answer (flint: {json.dumps(actual[k])[:200]})")
            for k in sorted(keys_e & keys_a):
                self._compare(expected[k], actual[k], f"{path}.{k}")
        elif isinstance(expected, list):
            if not isinstance(actual, list):
                return self._diff(path, f"expected a list, got {actual!r}")
            if len(expected) != len(actual):
                return self._diff(path, f"expected {len(expected)} items, got {len(actual)}: "
                                  f"{json.dumps(actual)[:300]}")
            for i, (e, a) in enumerate(zip(expected, actual)):
                self._compare(e, a, f"{path}[{i}]")
        elif isinstance(expected, str):
            self._compare_text(expected, actual, path)
        elif expected != actual:
            self._diff(path, f"expected {expected!r}, got {actual!r}")

    def _compare_text(self, expected, actual, path):
        if expected in ("date", "datetime"):
            if not isinstance(actual, str) or not re.match(r"\d{4}-\d\d-\d\d", actual):
                self._diff(path, f"expected a date, got {actual!r}")
            return
        if not isinstance(actual, str):
            # "<code-size>" and friends stand for numbers too.
            actual = json.dumps(actual)
        actual = actual.replace(ACCOUNT, RECORDED_ACCOUNT)
        parts = _PLACEHOLDER.split(expected)
        names = _PLACEHOLDER.findall(expected)
        if not names:
            if expected != actual:
                self._diff(path, f"expected {expected!r}, got {actual!r}")
            return
        # A placeholder inside a longer string stands for one segment of an ARN
        # or path (so `function:<function-name:1>` does not swallow a `:1`).
        free = ".+?" if expected == names[0] else r"[^:/\s']+?"
        pattern, groups = "", {}
        for i, literal in enumerate(parts):
            pattern += re.escape(literal)
            if i < len(names):
                n = names[i]
                if n in self.bindings:
                    pattern += re.escape(self.bindings[n])
                elif n in groups:
                    pattern += f"(?P={groups[n]})"
                elif not _numbered(n):
                    # `<code-size>`, `<location>`: masks that bind nothing.
                    pattern += free
                else:
                    groups[n] = f"g{len(groups)}"
                    pattern += f"(?P<{groups[n]}>{free})"
        m = re.fullmatch(pattern, actual, re.S)
        if not m:
            self._diff(path, f"expected {expected!r}, got {actual!r}")
            return
        for n, g in groups.items():
            value = m.group(g)
            clash = [o for o, v in self.bindings.items()
                     if v == value and o != n and _kind(o) == _kind(n) and _numbered(o)]
            if clash:
                self._diff(path, f"{n} has the value of {clash[0]} ({value!r}); AWS gives a new one")
            self.bindings[n] = value


def _plain(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "ResponseMetadata":
                out[k] = {"HTTPStatusCode": v.get("HTTPStatusCode")}
            else:
                out[k] = _plain(v)
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode(errors="replace")
    return value


def call(fn, **kwargs):
    """fn(**kwargs)'s answer, or the ClientError it raised (both are answers)."""
    try:
        return fn(**kwargs)
    except ClientError as e:
        return e


def validation_summary(err):
    """A ValidationException in the form localstack's recordings keep it:
    {"Code", "Count", "Errors"} parsed from "<n> validation error(s) detected: a; b"."""
    if not isinstance(err, ClientError):
        return {"not an error": _plain(err)}
    e = err.response["Error"]
    msg = e.get("Message", "")
    # The count form is parsed whatever the code: AWS answers a too-long
    # CreateFunction name with InvalidParameterValueException in that form.
    m = re.match(r"(\d+) validation errors? detected: (.*)$", msg, re.S)
    if not m:
        return {"Code": e["Code"], "Message": msg}
    return {"Code": e["Code"], "Count": int(m.group(1)), "Errors": m.group(2).split("; ")}
