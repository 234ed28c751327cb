"""The `flint function` CLI and the AWS CLI (v1) against the server."""

import json
from concurrent.futures import ThreadPoolExecutor

import requests

from bb_support import (ROLE, function_arn, make_zip, run_aws, run_flint_cli, sha256_b64, unique)


def test_flint_cli_create_list_get_delete(server, tmp_path):
    lam = server.client()
    ep = server.endpoint
    # From a directory.
    d = tmp_path / "src"
    (d / "lib").mkdir(parents=True)
    (d / "index.py").write_text("def handler(e, c):\n    return 'dir'\n")
    (d / "lib" / "util.py").write_text("X = 1\n")
    (d / "bootstrap").write_text("#!/bin/sh\necho hi\n")
    (d / "bootstrap").chmod(0o755)
    n1 = unique("cli-dir")
    r = run_flint_cli(ep, "create", n1, "--dir", str(d), "--runtime", "python3.12",
                      "--handler", "index.handler", "--memory", "256", "--timeout", "7",
                      "--description", "from dir", "--env", "K1=v1", "--env", "K2=a=b")
    assert r.returncode == 0, r.stderr
    assert n1 in r.stdout
    conf = lam.get_function_configuration(FunctionName=n1)
    assert conf["MemorySize"] == 256 and conf["Timeout"] == 7
    assert conf["Description"] == "from dir"
    assert conf["Environment"]["Variables"] == {"K1": "v1", "K2": "a=b"}
    assert conf["Role"] == "arn:aws:iam::000000000000:role/flint-function"
    # The package holds the directory's files with modes kept.
    import io
    import zipfile
    body = requests.get(lam.get_function(FunctionName=n1)["Code"]["Location"], timeout=30).content
    zf = zipfile.ZipFile(io.BytesIO(body))
    names = set(zf.namelist())
    assert {"index.py", "lib/util.py", "bootstrap"} <= names, names
    assert (zf.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755
    assert zf.read("index.py") == (d / "index.py").read_bytes()

    # From a zip, JSON output.
    z = make_zip({"main.py": "x = 2\n"})
    zpath = tmp_path / "pkg.zip"
    zpath.write_bytes(z)
    n2 = unique("cli-zip")
    r = run_flint_cli(ep, "create", n2, "--zip", str(zpath), "--runtime", "nodejs20.x",
                      "--handler", "main.handler", "--role", ROLE, "--output", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["FunctionName"] == n2 and out["CodeSha256"] == sha256_b64(z)
    assert out["FunctionArn"] == function_arn(n2) and out["Role"] == ROLE

    # list: table and JSON.
    r = run_flint_cli(ep, "list")
    assert r.returncode == 0, r.stderr
    assert n1 in r.stdout and n2 in r.stdout and "NAME" in r.stdout
    r = run_flint_cli(ep, "list", "--output", "json")
    assert r.returncode == 0, r.stderr
    listed = {f["FunctionName"] for f in json.loads(r.stdout)["Functions"]}
    api = {f["FunctionName"] for p in lam.get_paginator("list_functions").paginate()
           for f in p["Functions"]}
    assert listed == api

    # get: table and JSON.
    r = run_flint_cli(ep, "get", n2)
    assert r.returncode == 0 and "nodejs20.x" in r.stdout and n2 in r.stdout
    r = run_flint_cli(ep, "get", n2, "--output", "json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["Configuration"]["Handler"] == "main.handler"

    # delete.
    r = run_flint_cli(ep, "delete", n2)
    assert r.returncode == 0, r.stderr
    r = run_flint_cli(ep, "list", "--output", "json")
    assert n2 not in {f["FunctionName"] for f in json.loads(r.stdout)["Functions"]}

    # Errors: AWS code on stderr, non-zero exit.
    r = run_flint_cli(ep, "get", n2)
    assert r.returncode != 0
    assert "ResourceNotFoundException" in r.stderr, r.stderr
    r = run_flint_cli(ep, "delete", n2)
    assert r.returncode != 0 and "ResourceNotFoundException" in r.stderr
    r = run_flint_cli(ep, "create", n1, "--zip", str(zpath), "--runtime", "python3.12",
                      "--handler", "a.b")
    assert r.returncode != 0 and "ResourceConflictException" in r.stderr, r.stderr
    r = run_flint_cli(ep, "create", unique(), "--zip", str(zpath), "--runtime", "python3.12",
                      "--handler", "a.b", "--memory", "99999")
    assert r.returncode != 0 and "ValidationException" in r.stderr, r.stderr
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    r = run_flint_cli(ep, "create", unique(), "--zip", str(bad), "--runtime", "python3.12",
                      "--handler", "a.b")
    assert r.returncode != 0 and "InvalidParameterValueException" in r.stderr, r.stderr
    # Unreachable server.
    r = run_flint_cli("http://127.0.0.1:9", "list")
    assert r.returncode != 0 and r.stderr.strip()
    lam.delete_function(FunctionName=n1)


def test_aws_cli(server, tmp_path):
    """AWS CLI v1 end to end. Each `aws` start costs about a second, so
    independent commands run side by side."""
    ep = server.endpoint
    n = unique("awscli")
    z = make_zip({"index.py": "def handler(e, c):\n    return 'cli'\n"})
    zpath = tmp_path / "code.zip"
    zpath.write_bytes(z)
    create_args = ("create-function", "--function-name", n, "--runtime", "python3.12",
                   "--role", ROLE, "--handler", "index.handler",
                   "--zip-file", f"fileb://{zpath}")
    r = run_aws(ep, *create_args, "--tags", "team=cli", "--environment", "Variables={K1=v1}")
    c = r.json
    assert c["FunctionName"] == n and c["State"] == "Pending"
    assert c["CodeSha256"] == sha256_b64(z) and c["CodeSize"] == len(z)
    assert c["Environment"] == {"Variables": {"K1": "v1"}}

    with ThreadPoolExecutor(4) as pool:
        get = pool.submit(run_aws, ep, "get-function", "--function-name", n)
        listed = pool.submit(run_aws, ep, "list-functions")
        dup = pool.submit(run_aws, ep, *create_args, check=False)
        upd = pool.submit(run_aws, ep, "update-function-configuration", "--function-name", n,
                          "--memory-size", "512", "--timeout", "30")
        g = get.result().json
        listed = listed.result().json
        dup = dup.result()
        u = upd.result().json
    assert g["Configuration"]["State"] == "Active"
    assert g["Tags"] == {"team": "cli"}
    assert requests.get(g["Code"]["Location"], timeout=30).content == z
    assert n in {f["FunctionName"] for f in listed["Functions"]}
    # The error case: non-zero exit (254/255), the AWS code and message on stderr.
    assert dup.returncode in (254, 255), dup.returncode
    assert "ResourceConflictException" in dup.stderr, dup.stderr
    assert f"Function already exist: {n}" in dup.stderr
    assert u["MemorySize"] == 512 and u["Timeout"] == 30 and u["LastUpdateStatus"] == "InProgress"

    p = run_aws(ep, "publish-version", "--function-name", n, "--description", "first").json
    assert p["Version"] == "1" and p["MemorySize"] == 512 and p["Description"] == "first"

    a = run_aws(ep, "create-alias", "--function-name", n, "--name", "live",
                "--function-version", "1").json
    assert a["AliasArn"] == f"{function_arn(n)}:live" and a["FunctionVersion"] == "1"

    d = run_aws(ep, "delete-function", "--function-name", n)
    assert d.returncode == 0
    lam = server.client()
    e = run_aws(ep, "get-function", "--function-name", n, check=False)
    assert e.returncode in (254, 255) and "ResourceNotFoundException" in e.stderr
    assert f"Function not found: {function_arn(n)}" in e.stderr
    assert n not in {f["FunctionName"] for p in lam.get_paginator("list_functions").paginate()
                     for f in p["Functions"]}


def test_aws_cli_waiters_follow_the_state_machine(server, tmp_path):
    """`aws lambda wait function-active-v2 / function-updated-v2 /
    published-version-active` (AWS CLI v1's waiters) over the states and
    RevisionIds of AWS's recordings (test_function_revisions_basic,
    test_function_revisions_version_and_alias): a create answers Pending and an
    update InProgress, each under an id that is stale once the waiter returns;
    the id read after the wait is the one preconditions accept."""
    ep = server.endpoint
    n = unique("awswait")
    zpath = tmp_path / "code.zip"
    zpath.write_bytes(make_zip({"index.py": "def handler(e, c):\n    return 1\n"}))
    created = run_aws(ep, "create-function", "--function-name", n, "--runtime", "python3.12",
                      "--role", ROLE, "--handler", "index.handler",
                      "--zip-file", f"fileb://{zpath}").json
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    run_aws(ep, "wait", "function-active-v2", "--function-name", n)
    active = run_aws(ep, "get-function", "--function-name", n).json["Configuration"]
    assert active["State"] == "Active" and active["LastUpdateStatus"] == "Successful"
    assert active["RevisionId"] != created["RevisionId"]

    stale = run_aws(ep, "update-function-configuration", "--function-name", n,
                    "--timeout", "9", "--revision-id", created["RevisionId"], check=False)
    assert stale.returncode != 0 and "PreconditionFailedException" in stale.stderr
    upd = run_aws(ep, "update-function-configuration", "--function-name", n,
                  "--timeout", "9", "--revision-id", active["RevisionId"]).json
    assert upd["LastUpdateStatus"] == "InProgress"
    assert upd["LastUpdateStatusReason"] == "The function is being created."
    run_aws(ep, "wait", "function-updated-v2", "--function-name", n)
    done = run_aws(ep, "get-function-configuration", "--function-name", n).json
    assert done["LastUpdateStatus"] == "Successful" and done["Timeout"] == 9
    assert done["RevisionId"] not in (active["RevisionId"], upd["RevisionId"])

    v1 = run_aws(ep, "publish-version", "--function-name", n,
                 "--revision-id", done["RevisionId"]).json
    assert v1["State"] == "Active" and v1["LastUpdateStatus"] == "Successful"
    run_aws(ep, "wait", "published-version-active", "--function-name", n, "--qualifier", "1")
    got = run_aws(ep, "get-function-configuration", "--function-name", n,
                  "--qualifier", "1").json
    assert got["RevisionId"] == v1["RevisionId"] and got["State"] == "Active"
    run_aws(ep, "delete-function", "--function-name", n)
