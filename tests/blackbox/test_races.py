"""Concurrent writers, shared code packages and byte-exact limits."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import ClientError

from bb_support import (create, stored_blob_ids, error_of, expect_error, function_arn, make_zip,
                      sha256_b64, unique)


def _race(n, fn):
    """Runs fn(i) n times at once; returns [(ok, value-or-error)]."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            return True, fn(i)
        except ClientError as e:
            return False, e
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_creates_of_one_name(server):
    lam = server.client()
    n = unique("race")
    results = _race(6, lambda i: create(lam, n, make_zip({"i.py": f"i = {i}\n"})))
    ok = [v for good, v in results if good]
    bad = [error_of(e) for good, e in results if not good]
    assert len(ok) == 1, bad
    assert all(b[:3] == ("ResourceConflictException", 409, f"Function already exist: {n}")
               for b in bad), bad
    got = lam.get_function_configuration(FunctionName=n)
    assert got["CodeSha256"] == ok[0]["CodeSha256"]
    lam.delete_function(FunctionName=n)


def test_revision_id_lets_exactly_one_writer_win(server, name):
    lam = server.client()
    create(lam, name)
    # The settled function's id (the create answer's is the Pending one's).
    rev = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    results = _race(6, lambda i: lam.update_function_configuration(
        FunctionName=name, Description=f"writer {i}", RevisionId=rev))
    ok = [v for good, v in results if good]
    bad = [error_of(e)[:2] for good, e in results if not good]
    assert len(ok) == 1, (len(ok), bad)
    assert set(bad) == {("PreconditionFailedException", 412)}
    final = lam.get_function_configuration(FunctionName=name)
    assert final["Description"] == ok[0]["Description"]
    assert final["RevisionId"] not in (rev, ok[0]["RevisionId"])


def test_concurrent_publishes_get_distinct_numbers(server, name):
    lam = server.client()
    create(lam, name)

    def change_and_publish(i):
        lam.update_function_configuration(FunctionName=name, Description=f"d{i}")
        return lam.publish_version(FunctionName=name)["Version"]
    results = _race(5, change_and_publish)
    errors = [error_of(e)[:2] for good, e in results if not good]
    # An update racing another may be refused with 409 (update in progress);
    # nothing else is acceptable.
    assert all(e == ("ResourceConflictException", 409) for e in errors), errors
    versions = [v["Version"] for p in lam.get_paginator("list_versions_by_function").paginate(
        FunctionName=name) for v in p["Versions"]]
    assert versions[0] == "$LATEST"
    nums = [int(v) for v in versions[1:]]
    assert nums == sorted(nums) and len(nums) == len(set(nums))
    assert nums == list(range(1, len(nums) + 1))
    assert len(nums) >= 1


def test_shared_packages_survive_deletes(server):
    """Two functions and a version share one package; deleting some of
    them never breaks the others' code, and the last delete frees it."""
    lam = server.client()
    shared = make_zip({"shared.py": "SHARED = 1\n" + unique()})
    sha = sha256_b64(shared)
    hexname = __import__("hashlib").sha256(shared).hexdigest()
    a, b = unique("share-a"), unique("share-b")
    create(lam, a, shared)
    create(lam, b, shared)
    assert any(p.endswith(hexname) for p in stored_blob_ids(server))
    lam.publish_version(FunctionName=a)                           # a:1 -> shared
    lam.update_function_code(FunctionName=a, ZipFile=make_zip({"other.py": unique()}))
    lam.delete_function(FunctionName=b)                           # b gone
    v1 = lam.get_function(FunctionName=a, Qualifier="1")
    assert v1["Configuration"]["CodeSha256"] == sha
    assert requests.get(v1["Code"]["Location"], timeout=30).content == shared
    # $LATEST back to the shared package, then drop the version.
    lam.update_function_code(FunctionName=a, ZipFile=shared)
    lam.delete_function(FunctionName=a, Qualifier="1")
    latest = lam.get_function(FunctionName=a)
    assert latest["Configuration"]["CodeSha256"] == sha
    assert requests.get(latest["Code"]["Location"], timeout=30).content == shared
    assert any(p.endswith(hexname) for p in stored_blob_ids(server))
    # Last reference gone: the package leaves the disk, and its old URL 404s.
    url = latest["Code"]["Location"]
    lam.delete_function(FunctionName=a)
    assert not any(p.endswith(hexname) for p in stored_blob_ids(server))
    assert requests.get(url, timeout=30).status_code == 404


def test_env_limit_counts_utf8_bytes(server, name):
    lam = server.client()
    create(lam, name)
    # 1400 three-byte characters: 1,400 characters but 4,200 bytes.
    value = "\u20ac" * 1400
    with pytest.raises(ClientError) as ei:
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {"EURO": value}})
    code, status, msg, _ = error_of(ei)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert msg.startswith("Lambda was unable to configure your environment variables because "
                          "the environment variables you have provided exceeded the 4KB limit.")
    ok = {"EURO": "\u20ac" * 1300}  # 3,900 bytes + 11 of JSON
    assert len(json.dumps(ok, separators=(",", ":"), ensure_ascii=False).encode()) <= 4096
    r = lam.update_function_configuration(FunctionName=name, Environment={"Variables": ok})
    assert r["Environment"]["Variables"] == ok


def test_unknown_alias_or_version_qualifier(server, name):
    lam = server.client()
    create(lam, name)
    arn = function_arn(name)
    expect_error(lam.get_function, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}:ghost", FunctionName=name, Qualifier="ghost")
    expect_error(lam.get_function_configuration, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}:ghost", FunctionName=f"{name}:ghost")
    expect_error(lam.get_function, "ResourceNotFoundException", 404,
                 f"Function not found: {arn}:3", FunctionName=f"{arn}:3")
