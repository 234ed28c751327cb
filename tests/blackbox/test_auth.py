"""SigV4 authentication (`flint serve --auth sigv4`) with boto3, botocore's
signer and the AWS CLI: signed requests pass; unsigned, expired, tampered,
wrong-secret and revoked-key requests get AWS's 403 answers."""

import datetime
import json
import subprocess
import sys

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from bb_support import (REGION, ROLE, FlintServer, aws_env, flint_bin, make_zip,
                        unique)

SIG_MISMATCH = ("The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method. Consult "
                "the service documentation for details.")
BAD_TOKEN = "The security token included in the request is invalid."


def flint_keys(data_dir, *args):
    proc = subprocess.run([flint_bin(), "keys", *args, "--data-dir", data_dir,
                           "--output", "json"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def secured(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    key = flint_keys(str(data), "create", "--description", "pytest")
    s = FlintServer(str(data), str(tmp_path / "server.log"))
    s.extra_args = ["--auth", "sigv4"]
    s.start()
    yield s, key
    s.kill()


def client(endpoint, key_id, secret):
    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                    region_name=REGION)
    return session.client("lambda", endpoint_url=endpoint,
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def error(exc_info):
    e = exc_info.value
    return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"]["Message"])


def test_boto3_signed_requests_pass_and_bad_ones_are_refused(secured, monkeypatch):
    server, key = secured
    good = client(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    name = unique("auth")
    good.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                         Handler="index.handler", Code={"ZipFile": make_zip()})
    arn = good.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    assert good.get_function_configuration(FunctionName=arn, Qualifier="$LATEST")[
        "FunctionName"] == name

    with pytest.raises(ClientError) as ei:
        client(server.endpoint, key["AccessKeyId"], "wrong").list_functions()
    assert error(ei) == ("InvalidSignatureException", 403, SIG_MISMATCH)

    with pytest.raises(ClientError) as ei:
        client(server.endpoint, "FLNTNOSUCHKEY0000000", key["SecretAccessKey"]).list_functions()
    assert error(ei) == ("UnrecognizedClientException", 403, BAD_TOKEN)

    # botocore signs with its own clock: ten minutes slow is expired.
    import botocore.auth
    slow = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - \
        datetime.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: slow)
    with pytest.raises(ClientError) as ei:
        good.list_functions()
    code, status, message = error(ei)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("Signature expired: ") and message.endswith(" - 5 min.)"), message
    monkeypatch.undo()
    assert [f["FunctionName"] for f in good.list_functions()["Functions"]] == [name]


def test_unsigned_and_tampered_requests_are_refused(secured):
    server, key = secured
    url = f"{server.endpoint}/2015-03-31/functions"
    r = requests.get(url, timeout=10)
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert r.json() == {"message": "Missing Authentication Token"}

    body = json.dumps({"FunctionName": "p", "Role": ROLE}).encode()
    req = AWSRequest(method="PUT", url=f"{server.endpoint}/2015-03-31/functions/p/configuration",
                     data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "lambda",
              REGION).add_auth(req)
    headers = dict(req.headers.items())
    # The signed request reaches the API (the function does not exist)...
    r = requests.put(req.url, data=body, headers=headers, timeout=10)
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (404, "ResourceNotFoundException")
    # ...the same signature over another body does not.
    r = requests.put(req.url, data=body.replace(b'"p"', b'"q"'), headers=headers, timeout=10)
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")
    assert r.json()["message"] == SIG_MISMATCH
    # ...nor to another path.
    r = requests.put(req.url.replace("/p/", "/q/"), data=body, headers=headers, timeout=10)
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")


def run_cli(endpoint, key_id, secret, *args):
    env = aws_env()
    env.update({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
    return subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", endpoint,
                           "--region", REGION, "--output", "json", "lambda", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_aws_cli_with_a_revoked_key_is_refused(secured):
    server, key = secured
    ok = run_cli(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"], "list-functions")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"Functions": []}
    flint_keys(server.data_dir, "revoke", key["AccessKeyId"])
    refused = run_cli(server.endpoint, key["AccessKeyId"], key["SecretAccessKey"],
                      "list-functions")
    assert refused.returncode != 0
    assert "(UnrecognizedClientException)" in refused.stderr, refused.stderr
    assert BAD_TOKEN in refused.stderr
    listed = flint_keys(server.data_dir, "list")["AccessKeys"]
    assert [(k["AccessKeyId"], k["Status"]) for k in listed] == [(key["AccessKeyId"], "Revoked")]


def test_flint_cli_signs_with_the_aws_credentials(secured):
    server, key = secured
    env = aws_env()
    env.update({"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]})
    proc = subprocess.run([flint_bin(), "function", "list", "--endpoint", server.endpoint,
                           "--output", "json"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"Functions": []}
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    proc = subprocess.run([flint_bin(), "function", "list", "--endpoint", server.endpoint],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    assert "InvalidSignatureException" in proc.stderr


def test_serve_refuses_a_public_address_without_an_auth_mode(tmp_path):
    proc = subprocess.run([flint_bin(), "serve", "--listen", "0.0.0.0:0", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=30,
                          cwd=str(tmp_path))
    assert proc.returncode != 0
    assert "--auth sigv4" in proc.stderr
