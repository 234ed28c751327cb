"""`aws lambda invoke` (AWS CLI v1, unchanged) against flint."""

import base64
import json
import os
import subprocess
import sys

import pytest

from .invoke_support import DUMMY_CREDS, REGION

CODE = ("def handler(event, context):\n"
        "    print('cli invoke sees', event)\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('asked to fail')\n"
        "    return {'got': event, 'version': context.function_version}\n")


def aws(server, *args, cwd):
    env = dict(os.environ)
    env.update(DUMMY_CREDS)
    env["AWS_DEFAULT_REGION"] = REGION
    env.pop("AWS_PROFILE", None)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    p = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint,
                        "--cli-read-timeout", "90", "--output", "json", *args],
                       capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    return p


@pytest.fixture
def cli_fn(lam, fn):
    name = fn("cli", {"index.py": CODE})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="stable", FunctionVersion="1")
    return name


def test_cli_invoke_with_log_tail(server, cli_fn, tmp_path):
    p = aws(server, "lambda", "invoke", "--function-name", cli_fn,
            "--payload", '{"from": "cli"}', "--log-type", "Tail", "out.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST", meta
    assert "FunctionError" not in meta
    log = base64.b64decode(meta["LogResult"]).decode()
    assert "cli invoke sees {'from': 'cli'}" in log, log
    assert log.splitlines()[0].startswith("START RequestId:") or "START RequestId:" in log
    assert "REPORT RequestId:" in log
    assert json.loads((tmp_path / "out.json").read_text()) == {"got": {"from": "cli"}, "version": "$LATEST"}


def test_cli_invoke_function_error(server, cli_fn, tmp_path):
    p = aws(server, "lambda", "invoke", "--function-name", cli_fn,
            "--payload", '{"fail": true}', "err.json", cwd=tmp_path)
    # A function error is a successful API call: exit 0, FunctionError in the output.
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["StatusCode"] == 200 and meta["FunctionError"] == "Unhandled", meta
    body = json.loads((tmp_path / "err.json").read_text())
    assert body["errorType"] == "RuntimeError" and body["errorMessage"] == "asked to fail", body


def test_cli_invoke_with_qualifier(server, cli_fn, tmp_path):
    p = aws(server, "lambda", "invoke", "--function-name", cli_fn, "--qualifier", "stable",
            "--payload", '{"q": 1}', "q.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["ExecutedVersion"] == "1", meta
    assert json.loads((tmp_path / "q.json").read_text()) == {"got": {"q": 1}, "version": "1"}


def test_cli_invoke_unknown_function(server, tmp_path):
    p = aws(server, "lambda", "invoke", "--function-name", "cli-no-such-fn", "x.json", cwd=tmp_path)
    assert p.returncode != 0
    assert "ResourceNotFoundException" in p.stderr, p.stderr
