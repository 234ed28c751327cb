"""Layers beyond the recorded scenarios (test_recorded_layers.py): the content's download
link, S3 and bad zips refused as for function code, listing filters and pages, policies with
every principal form, a function's Layers (order, wholesale replacement, pinning by published
versions), the zips' reference counts and the 250 MB limit of code and layers together, and
the AWS CLI."""

import io
import json
import zipfile

from bb_support import (ACCOUNT, REGION, ROLE, stored_blob_ids, download, expect_error, make_zip,
                        run_aws, sha256_b64, unique)

LAYER_FILES = {"python/m.py": "X = 1\n"}


def layer_arn(name, version=None):
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}"
    return f"{base}:{version}" if version is not None else base


def publish(lam, name, files=LAYER_FILES, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)}, **kw)


def create_fn(lam, name, **kw):
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                        Handler="index.handler", Code={"ZipFile": make_zip()}, **kw)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def test_publish_answers_the_content_and_its_download_link(lam):
    name = unique("layer")
    zip_bytes = make_zip(LAYER_FILES)
    out = lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes},
                                    Description="d", LicenseInfo="MIT")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["LayerArn"] == layer_arn(name)
    assert out["LayerVersionArn"] == layer_arn(name, 1) and out["Version"] == 1
    assert out["Content"]["CodeSha256"] == sha256_b64(zip_bytes)
    assert out["Content"]["CodeSize"] == len(zip_bytes)
    assert (out["Description"], out["LicenseInfo"]) == ("d", "MIT")
    assert "CompatibleRuntimes" not in out and "CompatibleArchitectures" not in out
    got = download(out["Content"]["Location"])
    assert got.status_code == 200 and got.content == zip_bytes
    # GetLayerVersion also by the layer's ARN as its name.
    again = lam.get_layer_version(LayerName=layer_arn(name), VersionNumber=1)
    assert again["Content"]["CodeSha256"] == out["Content"]["CodeSha256"]
    assert download(again["Content"]["Location"]).content == zip_bytes


def test_content_from_s3_and_bad_zips_are_refused_as_for_functions(lam):
    name = unique("layer")
    expect_error(lam.publish_layer_version, "InvalidParameterValueException", 400,
                 message="flint has no S3: upload the package inline with ZipFile",
                 LayerName=name, Content={"S3Bucket": "bucket", "S3Key": "key"})
    m, _ = expect_error(lam.publish_layer_version, "InvalidParameterValueException", 400,
                        LayerName=name, Content={"ZipFile": b"not a zip"})
    fm, _ = expect_error(lam.create_function, "InvalidParameterValueException", 400,
                         FunctionName=unique(), Runtime="python3.12", Role=ROLE,
                         Handler="index.handler", Code={"ZipFile": b"not a zip"})
    assert m == fm
    # An escaping entry is refused by the same intake.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../escape.py", "x")
    expect_error(lam.publish_layer_version, "InvalidParameterValueException", 400,
                 LayerName=name, Content={"ZipFile": buf.getvalue()})
    expect_error(lam.publish_layer_version, "ValidationException", 400,
                 LayerName="bad.name", Content={"ZipFile": make_zip(LAYER_FILES)})
    # Nothing was published.
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []


def test_list_layers_shows_the_latest_matching_version_with_filters_and_pages(fresh):
    lam = fresh.client()
    a, b, c = "layer-a", "layer-b", "layer-c"
    publish(lam, a, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"])
    publish(lam, a, CompatibleRuntimes=["nodejs20.x"], CompatibleArchitectures=["arm64"])
    publish(lam, b, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["arm64"])
    publish(lam, c)
    layers = lam.list_layers()["Layers"]
    assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in layers] == \
        [(a, 2), (b, 1), (c, 1)]
    assert layers[0]["LayerArn"] == layer_arn(a)
    assert "Content" not in layers[0]["LatestMatchingVersion"]
    py = lam.list_layers(CompatibleRuntime="python3.12")["Layers"]
    assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in py] == \
        [(a, 1), (b, 1)]
    arm = lam.list_layers(CompatibleArchitecture="arm64")["Layers"]
    assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in arm] == \
        [(a, 2), (b, 1)]
    both = lam.list_layers(CompatibleRuntime="python3.12", CompatibleArchitecture="arm64")
    assert [l["LayerName"] for l in both["Layers"]] == [b]
    first = lam.list_layers(MaxItems=2)
    assert [l["LayerName"] for l in first["Layers"]] == [a, b] and first["NextMarker"]
    rest = lam.list_layers(MaxItems=2, Marker=first["NextMarker"])
    assert [l["LayerName"] for l in rest["Layers"]] == [c] and "NextMarker" not in rest
    names = [l["LayerName"] for p in lam.get_paginator("list_layers").paginate(
        PaginationConfig={"PageSize": 1}) for l in p["Layers"]]
    assert names == [a, b, c]
    # A layer whose versions are all deleted is not listed.
    lam.delete_layer_version(LayerName=c, VersionNumber=1)
    assert [l["LayerName"] for l in lam.list_layers()["Layers"]] == [a, b]
    expect_error(lam.list_layers, "ValidationException", 400, MaxItems=51)


def test_list_layer_versions_newest_first_in_pages(lam):
    name = unique("layer")
    for rt in ("python3.12", "python3.11", "python3.12"):
        publish(lam, name, CompatibleRuntimes=[rt])
    versions = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [3, 2, 1]
    filtered = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")
    assert [v["Version"] for v in filtered["LayerVersions"]] == [3, 1]
    page = lam.list_layer_versions(LayerName=name, MaxItems=2)
    assert [v["Version"] for v in page["LayerVersions"]] == [3, 2]
    rest = lam.list_layer_versions(LayerName=name, MaxItems=2, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1] and "NextMarker" not in rest
    expect_error(lam.list_layer_versions, "ValidationException", 400,
                 LayerName=name, CompatibleRuntime="cobol")


def test_policies_take_an_account_a_root_arn_or_everyone_with_an_organization(lam):
    name = unique("layer")
    publish(lam, name)
    arn = layer_arn(name, 1)
    add = lam.add_layer_version_permission
    first = add(LayerName=name, VersionNumber=1, StatementId="acct",
                Action="lambda:GetLayerVersion", Principal="123456789012")
    assert json.loads(first["Statement"])["Principal"] == \
        {"AWS": "arn:aws:iam::123456789012:root"}
    add(LayerName=name, VersionNumber=1, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*", OrganizationId="o-abcdefghij", RevisionId=first["RevisionId"])
    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    doc = json.loads(policy["Policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["acct", "org"]
    org = doc["Statement"][1]
    assert org["Principal"] == "*" and org["Resource"] == arn
    assert org["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    expect_error(add, "ValidationException", 400, LayerName=name, VersionNumber=1,
                 StatementId="bad", Action="lambda:GetLayerVersion", Principal="someone")
    expect_error(add, "ValidationException", 400, LayerName=name, VersionNumber=1,
                 StatementId="bad", Action="lambda:GetLayerVersion", Principal="*",
                 OrganizationId="o-x")
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="acct",
                                        RevisionId=policy["RevisionId"])
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org")
    expect_error(lam.get_layer_version_policy, "ResourceNotFoundException", 404,
                 message="No policy is associated with the given resource.",
                 LayerName=name, VersionNumber=1)


def test_function_layers_keep_their_order_are_replaced_wholesale_and_pinned(lam):
    names = [unique("layer") for _ in range(3)]
    sizes = {}
    for i, n in enumerate(names):
        sizes[n] = publish(lam, n, files={f"python/m{i}.py": "x" * (i + 1)})["Content"]["CodeSize"]
    arns = [layer_arn(n, 1) for n in names]
    fn = unique()
    create_fn(lam, fn, Layers=[arns[2], arns[0]])
    got = lam.get_function(FunctionName=fn)["Configuration"]["Layers"]
    assert got == [{"Arn": arns[2], "CodeSize": sizes[names[2]]},
                   {"Arn": arns[0], "CodeSize": sizes[names[0]]}]
    lam.publish_version(FunctionName=fn)
    lam.update_function_configuration(FunctionName=fn, Layers=[arns[1]])
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
    assert [l["Arn"] for l in lam.get_function_configuration(FunctionName=fn)["Layers"]] == \
        [arns[1]]
    # Version 1 keeps the layers it was published with.
    v1 = lam.get_function_configuration(FunctionName=fn, Qualifier="1")
    assert [l["Arn"] for l in v1["Layers"]] == [arns[2], arns[0]]
    # Other updates keep the layers; an empty list removes them.
    lam.update_function_configuration(FunctionName=fn, MemorySize=256)
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
    assert len(lam.get_function_configuration(FunctionName=fn)["Layers"]) == 1
    lam.update_function_configuration(FunctionName=fn, Layers=[])
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
    assert "Layers" not in lam.get_function_configuration(FunctionName=fn)
    # A publish with different layers is a new version.
    assert lam.publish_version(FunctionName=fn)["Version"] == "2"


def test_layer_zips_live_while_a_layer_version_or_a_function_uses_them(fresh):
    lam = fresh.client()
    before = stored_blob_ids(fresh)
    name = unique("layer")
    publish(lam, name, files={"python/only_here.py": "unique content 42\n"})
    layer_blobs = stored_blob_ids(fresh) - before
    assert len(layer_blobs) == 1
    fn = unique()
    create_fn(lam, fn, Layers=[layer_arn(name, 1)])
    lam.publish_version(FunctionName=fn)
    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    assert layer_blobs <= stored_blob_ids(fresh), "the function still uses it"
    lam.update_function_configuration(FunctionName=fn, Layers=[])
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
    assert layer_blobs <= stored_blob_ids(fresh), "version 1 still uses it"
    lam.delete_function(FunctionName=fn, Qualifier="1")
    assert not (layer_blobs & stored_blob_ids(fresh)), "nobody uses it any more"
    # The same content published again is stored again.
    publish(lam, name, files={"python/only_here.py": "unique content 42\n"})
    assert layer_blobs <= stored_blob_ids(fresh)


def big_zip(name, size):
    """A zip of one file of `size` zero bytes (small on the wire, large unzipped)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w") as f:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
    return buf.getvalue()


def test_code_and_layers_unzipped_stay_within_250_mb(lam):
    mb = 1 << 20
    zips = [big_zip(f"python/blob{i}.bin", 100 * mb) for i in range(3)]
    arns = []
    for z in zips:
        n = unique("layer")
        lam.publish_layer_version(LayerName=n, Content={"ZipFile": z})
        arns.append(layer_arn(n, 1))
    fn = unique()
    expect_error(lam.create_function, "InvalidParameterValueException", 400,
                 contains="Function code combined with layers exceeds the maximum allowed size "
                          "of 262144000 bytes.",
                 FunctionName=fn, Runtime="python3.12", Role=ROLE, Handler="index.handler",
                 Code={"ZipFile": make_zip()}, Layers=arns)
    create_fn(lam, fn, Layers=arns[:2])
    expect_error(lam.update_function_configuration, "InvalidParameterValueException", 400,
                 contains="Function code combined with layers exceeds",
                 FunctionName=fn, Layers=arns)
    assert len(lam.get_function_configuration(FunctionName=fn)["Layers"]) == 2
    expect_error(lam.update_function_code, "InvalidParameterValueException", 400,
                 contains="Function code combined with layers exceeds",
                 FunctionName=fn, ZipFile=big_zip("index.py", 60 * mb))


def test_the_aws_cli_publishes_and_lists_layers(server, tmp_path):
    name = unique("layer")
    path = tmp_path / "layer.zip"
    path.write_bytes(make_zip(LAYER_FILES))
    out = run_aws(server.endpoint, "publish-layer-version", "--layer-name", name,
                  "--zip-file", f"fileb://{path}", "--compatible-runtimes", "python3.12",
                  "--compatible-architectures", "x86_64").json
    assert out["LayerVersionArn"] == layer_arn(name, 1)
    listed = run_aws(server.endpoint, "list-layer-versions", "--layer-name", name).json
    assert [v["Version"] for v in listed["LayerVersions"]] == [1]
    by_arn = run_aws(server.endpoint, "get-layer-version-by-arn", "--arn",
                     layer_arn(name, 1)).json
    assert by_arn["Content"]["CodeSha256"] == out["Content"]["CodeSha256"]
    run_aws(server.endpoint, "delete-layer-version", "--layer-name", name,
            "--version-number", "1")
    missing = run_aws(server.endpoint, "get-layer-version", "--layer-name", name,
                      "--version-number", "1", check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr



def test_aws_owned_layer_arns_fit_the_pattern_but_flint_has_none(lam):
    aws_layer = "arn:aws:lambda:::awslayer:AWSLambda-Python-AWS-SDK"
    expect_error(lam.get_layer_version_by_arn, "ResourceNotFoundException", 404,
                 message="The resource you requested does not exist.", Arn=aws_layer)
    expect_error(lam.create_function, "InvalidParameterValueException", 400,
                 message=f"Layer version {aws_layer} does not exist.",
                 FunctionName=unique(), Runtime="python3.12", Role=ROLE,
                 Handler="index.handler", Code={"ZipFile": make_zip()}, Layers=[aws_layer])
