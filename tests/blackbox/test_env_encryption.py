"""Environment variables encrypted at rest (issue 14): the metadata store never holds a
variable's value in plaintext, every read (GetFunction, GetFunctionConfiguration, versions,
ListFunctions, after a restart) gives it back, KMSKeyArn is accepted and reported as on AWS,
and records an older flint stored in plaintext keep working and are sealed at start."""

import json
import os
import sqlite3
import uuid

from bb_support import ROLE, create, embedded_only, expect_error, make_zip, unique


def _secret():
    return "s3cr3t-" + uuid.uuid4().hex


def _data_files(data_dir):
    """Every file of the data dir except code packages (bytes by path)."""
    out = {}
    for root, _dirs, files in os.walk(data_dir):
        if os.sep + "blobs" in root:
            continue
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[p] = fh.read()
    return out


def _plaintext_in_store(data_dir, needle):
    return [p for p, b in _data_files(data_dir).items() if needle.encode() in b]


@embedded_only
def test_values_are_never_stored_in_plaintext_and_every_read_decrypts(fresh):
    lam = fresh.client()
    name = unique("enc")
    first, second, key_secret = _secret(), _secret(), "KEY_" + uuid.uuid4().hex[:8].upper()
    created = create(lam, name, Environment={"Variables": {"DB_PASSWORD": first, key_secret: "x"}})
    assert created["Environment"] == {"Variables": {"DB_PASSWORD": first, key_secret: "x"}}
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name,
                                      Environment={"Variables": {"DB_PASSWORD": second}})

    got = lam.get_function(FunctionName=name)["Configuration"]
    assert got["Environment"] == {"Variables": {"DB_PASSWORD": second}}
    old = lam.get_function_configuration(FunctionName=name, Qualifier=v1)
    assert old["Environment"]["Variables"]["DB_PASSWORD"] == first
    listed = [f for f in lam.list_functions(FunctionVersion="ALL")["Functions"]
              if f["FunctionName"] == name]
    assert sorted(f["Environment"]["Variables"]["DB_PASSWORD"] for f in listed) == sorted(
        [first, second])

    # Neither values nor variable names are in metadata.db, its WAL, or any other file.
    for needle in (first, second, key_secret):
        assert _plaintext_in_store(fresh.data_dir, needle) == [], needle
    # The documents are there, sealed (the check above would pass on an empty store).
    db = sqlite3.connect(os.path.join(fresh.data_dir, "metadata.db"))
    doc = json.loads(db.execute("SELECT value FROM documents WHERE ns='function' AND key=?",
                                (name,)).fetchone()[0])
    db.close()
    assert doc["latest"]["FunctionName"] == name
    assert set(doc["latest"]["Environment"]) == {"Sealed"}, doc["latest"]["Environment"]

    # A restart reads them back with the key file of the data dir.
    fresh.restart()
    lam = fresh.client()
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {
        "Variables": {"DB_PASSWORD": second}}
    assert os.stat(os.path.join(fresh.data_dir, "auth.key")).st_mode & 0o777 == 0o600


def test_kms_key_arn_is_accepted_and_reported(server, lam):
    """AWS reports KMSKeyArn when one is set and leaves the key out otherwise; an empty
    string on update goes back to the default key."""
    name = unique("kms")
    key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    created = create(lam, name, KMSKeyArn=key, Environment={"Variables": {"A_B": "1"}})
    assert created["KMSKeyArn"] == key
    assert lam.get_function(FunctionName=name)["Configuration"]["KMSKeyArn"] == key
    updated = lam.update_function_configuration(FunctionName=name, KMSKeyArn="")
    assert "KMSKeyArn" not in updated
    assert "KMSKeyArn" not in lam.get_function_configuration(FunctionName=name)
    plain = create(lam, unique("nokms"))
    assert "KMSKeyArn" not in plain


def test_an_invalid_kms_key_arn_is_refused_and_changes_nothing(server, lam):
    name = unique("kmsbad")
    expect_error(lam.create_function, "ValidationException", 400,
                 contains="Value 'not an arn' at 'kMSKeyArn' failed to satisfy constraint",
                 FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                 Code={"ZipFile": make_zip()}, KMSKeyArn="not an arn")
    expect_error(lam.get_function, "ResourceNotFoundException", 404, FunctionName=name)


@embedded_only
def test_plaintext_from_an_older_flint_is_read_and_sealed_at_start(fresh):
    lam = fresh.client()
    name = unique("legacy")
    create(lam, name)
    fresh.stop()
    legacy = _secret()
    # What flint stored before variables were sealed: a plaintext map in the document.
    db = sqlite3.connect(os.path.join(fresh.data_dir, "metadata.db"))
    (raw,) = db.execute("SELECT value FROM documents WHERE ns='function' AND key=?",
                        (name,)).fetchone()
    doc = json.loads(raw)
    doc["latest"]["Environment"] = {"Variables": {"LEGACY": legacy}}
    db.execute("UPDATE documents SET value=? WHERE ns='function' AND key=?",
               (json.dumps(doc).encode(), name))
    db.commit()
    db.close()

    fresh.start()
    lam = fresh.client()
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {
        "Variables": {"LEGACY": legacy}}
    db = sqlite3.connect(os.path.join(fresh.data_dir, "metadata.db"))
    (raw,) = db.execute("SELECT value FROM documents WHERE ns='function' AND key=?",
                        (name,)).fetchone()
    db.close()
    assert legacy.encode() not in raw
    assert "Sealed" in json.loads(raw)["latest"]["Environment"]
