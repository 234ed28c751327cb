"""Restarts keep everything; a kill -9 mid-burst leaves only whole
functions and no orphaned code."""

import base64
import hashlib
import json
import os
import signal
import socket
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError, EndpointConnectionError

from bb_support import (ROLE, FlintServer, blob_files, create, embedded_only, function_arn,
                        make_zip, stored_blob_ids,
                        sha256_b64)


def full_state(lam):
    """Everything the API shows, minus volatile fields (download URLs)."""
    state = {}
    names = [f["FunctionName"] for p in lam.get_paginator("list_functions").paginate()
             for f in p["Functions"]]
    for n in sorted(names):
        got = lam.get_function(FunctionName=n)
        got.pop("ResponseMetadata")
        got["Code"].pop("Location")
        versions = [v for p in lam.get_paginator("list_versions_by_function").paginate(
            FunctionName=n) for v in p["Versions"]]
        aliases = [a for p in lam.get_paginator("list_aliases").paginate(FunctionName=n)
                   for a in p["Aliases"]]
        conc = lam.get_function_concurrency(FunctionName=n)
        conc.pop("ResponseMetadata")
        tags = lam.list_tags(Resource=function_arn(n))["Tags"]
        per_version = {}
        for v in versions:
            c = lam.get_function_configuration(FunctionName=n, Qualifier=v["Version"])
            c.pop("ResponseMetadata")
            per_version[v["Version"]] = c
        state[n] = dict(get=got, versions=versions, aliases=aliases, conc=conc, tags=tags,
                        per_version=per_version)
    settings = lam.get_account_settings()
    settings.pop("ResponseMetadata")
    return state, settings


def test_restart_keeps_everything(make_server):
    srv = make_server()
    lam = srv.client()
    zips = {}
    for i in range(4):
        n = f"keep-{i}"
        zips[n] = make_zip({"index.py": f"v = {i}\n", "data.bin": os.urandom(2000)})
        create(lam, n, zips[n], Tags={"i": str(i)}, Environment={"Variables": {"K1": str(i)}},
               Description=f"function {i}", MemorySize=256 + i)
    lam.publish_version(FunctionName="keep-0")
    lam.update_function_code(FunctionName="keep-0", ZipFile=make_zip({"index.py": "v = 99\n"}))
    lam.publish_version(FunctionName="keep-0")
    lam.create_alias(FunctionName="keep-0", Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    lam.create_alias(FunctionName="keep-0", Name="latest", FunctionVersion="$LATEST")
    lam.put_function_concurrency(FunctionName="keep-1", ReservedConcurrentExecutions=10)
    lam.tag_resource(Resource=function_arn("keep-2"), Tags={"extra": "yes"})
    lam.delete_function(FunctionName="keep-3")
    before = full_state(lam)
    old_url = lam.get_function(FunctionName="keep-2")["Code"]["Location"]

    srv.stop()
    assert srv.proc.returncode == 0, "flint should exit 0 on SIGTERM"
    srv.start()
    lam = srv.client()
    after = full_state(lam)
    assert after == before
    # A download URL handed out before the restart still works (the signing
    # key lives in the data dir).
    old_url = old_url.replace(old_url.split("/_flint/")[0], srv.endpoint)
    assert requests.get(old_url, timeout=30).content == zips["keep-2"]
    # Code still downloads and matches.
    got = lam.get_function(FunctionName="keep-1")
    assert requests.get(got["Code"]["Location"], timeout=30).content == zips["keep-1"]
    v1 = lam.get_function(FunctionName="keep-0", Qualifier="1")
    assert requests.get(v1["Code"]["Location"], timeout=30).content == zips["keep-0"]
    # Version numbering continues, never reused.
    lam.update_function_configuration(FunctionName="keep-0", Timeout=42)
    assert lam.publish_version(FunctionName="keep-0")["Version"] == "3"
    # Deleted stays deleted.
    try:
        lam.get_function(FunctionName="keep-3")
        raise AssertionError("keep-3 came back")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceNotFoundException"


def test_kill_mid_burst_leaves_whole_functions(make_server):
    srv = make_server()
    lam = srv.client()
    stop = threading.Event()
    created = []
    errors = []

    def worker(t):
        c = srv.client(connect_timeout=2, read_timeout=10)
        i = 0
        while not stop.is_set() and i < 400:
            n = f"burst-{t}-{i}"
            z = make_zip({"index.py": f"# {n}\n", "pad.bin": os.urandom(64 << 10)})
            try:
                create(c, n, z)
                created.append(n)
                if i % 3 == 0:
                    c.publish_version(FunctionName=n)
                if i % 4 == 1:
                    c.update_function_code(FunctionName=n, ZipFile=make_zip({"x.py": n}))
            except (ClientError, EndpointConnectionError, Exception) as e:  # noqa: BLE001
                errors.append(e)
                if stop.is_set() or not srv.alive():
                    return
            i += 1

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(created) < 25 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(created) >= 5, f"burst too slow: {len(created)} created; errors {errors[:3]}"
    srv.kill()
    stop.set()
    for t in threads:
        t.join(15)

    srv.start()
    lam = srv.client()
    listed = [f for p in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL")
              for f in p["Functions"]]
    names = {f["FunctionName"] for f in listed}
    # Every create acknowledged before the kill survived.
    assert set(created) <= names, sorted(set(created) - names)
    referenced = set()
    for f in listed:
        q = f["Version"]
        got = lam.get_function(FunctionName=f["FunctionName"], Qualifier=q)
        conf = got["Configuration"]
        assert conf["State"] == "Active"
        assert conf["CodeSha256"] == f["CodeSha256"]
        assert conf["RevisionId"] == f["RevisionId"]
        body = requests.get(got["Code"]["Location"], timeout=30).content
        assert len(body) == conf["CodeSize"]
        assert sha256_b64(body) == conf["CodeSha256"], f["FunctionArn"]
        referenced.add(hashlib.sha256(body).hexdigest())
    # After the start-up sweep only referenced packages remain on disk (no
    # temp file of a write cut short either).
    on_disk = stored_blob_ids(srv)
    assert on_disk == referenced, {
        "orphans": sorted(on_disk - referenced), "missing": sorted(referenced - on_disk)}
    # And the server still works normally.
    create(lam, "after-crash")
    assert lam.get_function(FunctionName="after-crash")["Configuration"]["State"] == "Active"


def _plant(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


@embedded_only
def test_startup_sweep_removes_unreferenced_packages(make_server):
    """A package written by a request that died before its metadata
    committed is a file nobody references: the start-up sweep removes it."""
    srv = make_server()
    lam = srv.client()
    z = make_zip({"keep.py": "k = 1\n"})
    create(lam, "keeper", z)
    srv.stop()
    orphan = bytes(range(256)) * 40
    orphan_id = hashlib.sha256(orphan).hexdigest()
    _plant(os.path.join(srv.data_dir, "blobs", orphan_id[:2], orphan_id), orphan)
    srv.start()
    names = {os.path.basename(p) for p in blob_files(srv.data_dir)}
    assert names == {hashlib.sha256(z).hexdigest()}, names
    got = srv.client().get_function(FunctionName="keeper")
    assert requests.get(got["Code"]["Location"], timeout=30).content == z


@embedded_only
def test_startup_sweep_removes_torn_temp_files(make_server):
    """A kill -9 between a package's temp write and its rename leaves
    blobs/<aa>/.tmpXXXXXX behind; the start-up sweep removes it."""
    srv = make_server()
    lam = srv.client()
    z = make_zip({"keep.py": "k = 2\n"})
    create(lam, "keeper", z)
    blob = hashlib.sha256(z).hexdigest()
    srv.kill()
    # What a kill -9 between the temp write and the rename leaves behind
    # (observed for real with multi-MB packages and kill -9 mid-burst).
    _plant(os.path.join(srv.data_dir, "blobs", blob[:2], ".tmpAbC123"), b"torn" * 1000)
    srv.start()
    names = {os.path.basename(p) for p in blob_files(srv.data_dir)}
    assert names == {blob}, names


def test_second_server_on_same_data_dir_is_refused(make_server):
    srv = make_server()
    create(srv.client(), "mine")
    other = FlintServer(srv.data_dir, srv.log_path + ".second")
    try:
        with pytest.raises(RuntimeError):
            other.start(timeout=20)
    finally:
        other.kill()
    assert other.proc.returncode not in (None, 0)
    with open(other.log_path, "rb") as f:
        assert b"another flint server is using the data directory" in f.read()
    # The first one is untouched.
    assert srv.alive()
    assert srv.client().get_function(FunctionName="mine")["Configuration"]["State"] == "Active"


def test_sigterm_finishes_the_request_in_flight(make_server):
    srv = make_server()
    z = make_zip({"index.py": "x = 1\n"})
    body = json.dumps(dict(FunctionName="inflight", Runtime="python3.12", Role=ROLE,
                           Handler="index.handler",
                           Code={"ZipFile": base64.b64encode(z).decode()})).encode()
    host, port = srv.endpoint.rsplit("/", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    try:
        sock.sendall(f"POST /2015-03-31/functions HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     .encode() + body[:40])
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[40:])
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    finally:
        sock.close()
    assert head.startswith(b"HTTP/1.1 201"), head[:200]
    srv.proc.wait(20)
    assert srv.proc.returncode == 0
    srv.start()
    conf = srv.client().get_function_configuration(FunctionName="inflight")
    assert conf["CodeSha256"] == sha256_b64(z)
