"""flint against AWS's recorded `TestLambdaLayer` scenarios (issue 15).

Each test replays one recorded scenario of `test_lambda_api.py::TestLambdaLayer` with boto3
steps of our own and compares every answer with the recording through
`bb_recorded.Recording`, as test_recorded_api.py does for the other classes
(recorded_survey.py runs both files).
"""

import json

import pytest

import bb_recorded
from bb_recorded import Recording, call
from bb_support import ACCOUNT, REGION, ROLE, make_zip, unique

HANDLER_CODE = {"handler.py": "def handler(event, context):\n    return event\n"}
LAYER_FILES = {"python/layer_module.py": "VALUE = 1\n"}
OTHER_REGION = "us-west-2"


@pytest.fixture(autouse=True)
def _scenario(request):
    bb_recorded.STARTED.clear()
    yield
    for s in bb_recorded.STARTED:
        request.node.user_properties.append(("scenario", s))


def parsed(answer):
    """The answer with its JSON-text `Statement` / `Policy` parsed, as the recording shows
    them (the recorded test snapshots `json.loads` of them)."""
    for key in ("Statement", "Policy"):
        if isinstance(answer, dict) and isinstance(answer.get(key), str):
            answer = {**answer, key: json.loads(answer[key])}
    return answer


def layer_arn(name, version=None, region=REGION):
    base = f"arn:aws:lambda:{region}:{ACCOUNT}:layer:{name}"
    return f"{base}:{version}" if version is not None else base


def publish(lam, name, **kw):
    params = dict(LayerName=name, Content={"ZipFile": make_zip(LAYER_FILES)})
    params.update(kw)
    return lam.publish_layer_version(**params)


def create_fn(lam, name, **kw):
    out = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                              Handler="handler.handler", Timeout=30,
                              Environment={"Variables": {}}, Code={"ZipFile": make_zip(HANDLER_CODE)}, **kw)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return out


def test_layer_exceptions(lam):
    rec = Recording("TestLambdaLayer::test_layer_exceptions")
    name = unique("layer")
    rec.check("publish_result", publish(lam, name, CompatibleRuntimes=["python3.12"],
                                        CompatibleArchitectures=["x86_64"]))
    rec.check("list_layers_exc_compatibleruntime_invalid",
              call(lam.list_layers, CompatibleRuntime="runtimedoesnotexist"))
    rec.check("list_layers_exc_compatiblearchitecture_invalid",
              call(lam.list_layers, CompatibleArchitecture="archdoesnotexist"))
    rec.check("list_nonexistent_layer",
              lam.list_layer_versions(LayerName=f"{name}-doesnotexist"))
    rec.check("get_layer_version_exc_layer_doesnotexist",
              call(lam.get_layer_version, LayerName=f"{name}-doesnotexist", VersionNumber=1))
    rec.check("get_layer_version_exc_layer_version_doesnotexist_negative",
              call(lam.get_layer_version, LayerName=name, VersionNumber=-1))
    rec.check("get_layer_version_exc_layer_version_doesnotexist_zero",
              call(lam.get_layer_version, LayerName=name, VersionNumber=0))
    rec.check("get_layer_version_exc_layer_version_doesnotexist_2",
              call(lam.get_layer_version, LayerName=name, VersionNumber=2))
    rec.check("get_layer_version_by_arn_exc_invalidarn",
              call(lam.get_layer_version_by_arn, Arn=layer_arn(name)))
    rec.check("get_layer_version_by_arn_exc_nonexistentversion",
              call(lam.get_layer_version_by_arn, Arn=layer_arn(name, 2)))
    rec.check("delete_nonexistent_response",
              lam.delete_layer_version(LayerName=f"{name}-doesnotexist", VersionNumber=1))
    rec.check("delete_nonexistent_version_response",
              lam.delete_layer_version(LayerName=name, VersionNumber=2))
    rec.check("delete_layer_response", lam.delete_layer_version(LayerName=name, VersionNumber=1))
    rec.check("delete_layer_again_response",
              lam.delete_layer_version(LayerName=name, VersionNumber=1))
    rec.check("delete_layer_version_exc_layerversion_invalid_version",
              call(lam.delete_layer_version, LayerName=name, VersionNumber=0))
    rec.check("publish_empty_result",
              publish(lam, unique("layer"), CompatibleRuntimes=[], CompatibleArchitectures=[]))
    rec.check("publish_layer_version_exc_invalid_runtime_arch",
              call(publish, lam=lam, name=unique("layer"), CompatibleRuntimes=["invalidruntime"],
                   CompatibleArchitectures=["invalidarch"]))
    rec.check("publish_layer_version_exc_partially_invalid_values",
              call(publish, lam=lam, name=unique("layer"),
                   CompatibleRuntimes=["invalidruntime", "invalidruntime2", "nodejs20.x"],
                   CompatibleArchitectures=["invalidarch", "x86_64"]))
    rec.done()


def test_layer_lifecycle(lam):
    rec = Recording("TestLambdaLayer::test_layer_lifecycle")
    fn = unique()
    create_fn(lam, fn)
    rec.check("get_fn_result", lam.get_function(FunctionName=fn))
    rec.check("get_fn_config_result", lam.get_function_configuration(FunctionName=fn))
    name = unique("layer")
    meta = dict(CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"],
                LicenseInfo="the license", Description="the description")
    rec.check("publish_result", publish(lam, name, **meta))
    rec.check("publish_result_2", publish(lam, name, **meta))
    rec.check("update_fn_config",
              lam.update_function_configuration(FunctionName=fn, Layers=[layer_arn(name, 1)]))
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
    rec.check("get_fn_config", lam.get_function_configuration(FunctionName=fn))
    rec.check("get_layer_ver_result", lam.get_layer_version(LayerName=name, VersionNumber=1))
    rec.check("get_layer_by_arn_version", lam.get_layer_version_by_arn(Arn=layer_arn(name, 1)))
    rec.check("list_layer_versions_predelete", lam.list_layer_versions(LayerName=name))
    rec.check("delete_layer_1", lam.delete_layer_version(LayerName=name, VersionNumber=1))
    rec.check("get_fn_config_postdelete", lam.get_function_configuration(FunctionName=fn))
    rec.check("delete_layer_2", lam.delete_layer_version(LayerName=name, VersionNumber=2))
    rec.check("list_layer_versions_postdelete", lam.list_layer_versions(LayerName=name))
    # Numbers are never reused, even after every version was deleted.
    rec.check("publish_result_3", publish(lam, name, **meta))
    rec.done()


def test_layer_policy_exceptions(lam):
    rec = Recording("TestLambdaLayer::test_layer_policy_exceptions")
    name = unique("layer")
    rec.check("publish_result", publish(lam, name, CompatibleRuntimes=["python3.12"],
                                        CompatibleArchitectures=["x86_64"]))
    rec.check("layer_permission_nopolicy_get",
              call(lam.get_layer_version_policy, LayerName=name, VersionNumber=1))
    perm = dict(StatementId="s1", Action="lambda:GetLayerVersion", Principal="*")
    rec.check("add_layer_permission_result",
              parsed(lam.add_layer_version_permission(LayerName=name, VersionNumber=1, **perm)))
    rec.check("layer_permission_action_invalid",
              call(lam.add_layer_version_permission, LayerName=name, VersionNumber=1,
                   StatementId="s2", Action="*", Principal="*"))
    rec.check("layer_permission_duplicate_statement",
              call(lam.add_layer_version_permission, LayerName=name, VersionNumber=1, **perm))
    rec.check("layer_permission_wrong_revision",
              call(lam.add_layer_version_permission, LayerName=name, VersionNumber=1,
                   StatementId="s2", Action="lambda:GetLayerVersion", Principal="*",
                   RevisionId="wrong"))
    missing = f"{name}-doesnotexist"
    rec.check("layer_permission_layername_doesnotexist_add",
              call(lam.add_layer_version_permission, LayerName=missing, VersionNumber=1, **perm))
    rec.check("layer_permission_layername_doesnotexist_get",
              call(lam.get_layer_version_policy, LayerName=missing, VersionNumber=1))
    rec.check("layer_permission_layername_doesnotexist_remove",
              call(lam.remove_layer_version_permission, LayerName=missing, VersionNumber=1,
                   StatementId="s1"))
    rec.check("layer_permission_layerversion_doesnotexist_add",
              call(lam.add_layer_version_permission, LayerName=name, VersionNumber=2, **perm))
    rec.check("layer_permission_layerversion_doesnotexist_get",
              call(lam.get_layer_version_policy, LayerName=name, VersionNumber=2))
    rec.check("layer_permission_layerversion_doesnotexist_remove",
              call(lam.remove_layer_version_permission, LayerName=name, VersionNumber=2,
                   StatementId="s1"))
    rec.check("layer_permission_statementid_doesnotexist_remove",
              call(lam.remove_layer_version_permission, LayerName=name, VersionNumber=1,
                   StatementId="doesnotexist"))
    rec.check("layer_permission_wrong_revision_remove",
              call(lam.remove_layer_version_permission, LayerName=name, VersionNumber=1,
                   StatementId="s1", RevisionId="wrong"))
    rec.done()


def test_layer_policy_lifecycle(lam):
    rec = Recording("TestLambdaLayer::test_layer_policy_lifecycle")
    name = unique("layer")
    rec.check("publish_result", publish(lam, name, CompatibleRuntimes=["python3.12"],
                                        CompatibleArchitectures=["x86_64"]))
    perm = dict(LayerName=name, VersionNumber=1, Action="lambda:GetLayerVersion", Principal="*")
    rec.check("add_policy_s1",
              parsed(lam.add_layer_version_permission(StatementId="s1", **perm)))
    rec.check("get_layer_version_policy",
              parsed(lam.get_layer_version_policy(LayerName=name, VersionNumber=1)))
    rec.check("add_policy_s2",
              parsed(lam.add_layer_version_permission(StatementId="s2", **perm)))
    rec.check("get_layer_version_policy_postadd2",
              parsed(lam.get_layer_version_policy(LayerName=name, VersionNumber=1)))
    rec.check("remove_s2", lam.remove_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="s2"))
    rec.check("get_layer_version_policy_postdeletes2",
              parsed(lam.get_layer_version_policy(LayerName=name, VersionNumber=1)))
    rec.done()


def test_layer_function_exceptions(lam):
    rec = Recording("TestLambdaLayer::test_layer_function_exceptions")
    name = unique("layer")
    for step in ("publish_result", "publish_result_2", "publish_result_3"):
        rec.check(step, publish(lam, name, CompatibleRuntimes=[],
                                CompatibleArchitectures=["x86_64"]))
    fn = unique()
    create_fn(lam, fn)
    rec.check("get_fn_result", lam.get_function(FunctionName=fn))
    v1, v2, v3 = (layer_arn(name, n) for n in (1, 2, 3))
    update = lam.update_function_configuration
    rec.check("two_layer_versions_single_function_exc",
              call(update, FunctionName=fn, Layers=[v1, v2]))
    rec.check("three_layer_versions_single_function_exc",
              call(update, FunctionName=fn, Layers=[v1, v2, v3]))
    rec.check("two_identical_layer_versions_single_function_exc",
              call(update, FunctionName=fn, Layers=[v1, v1]))
    rec.check("add_nonexistent_layer_exc",
              call(update, FunctionName=fn, Layers=[layer_arn("doesnotexist", 1)]))
    rec.check("add_nonexistent_layer_version_exc",
              call(update, FunctionName=fn, Layers=[layer_arn(name, 9)]))
    rec.check("add_layer_arn_without_version_exc",
              call(update, FunctionName=fn, Layers=[layer_arn(name)]))
    rec.check("create_function_with_layer_in_different_region",
              call(lam.create_function, FunctionName=unique(), Runtime="python3.12", Role=ROLE,
                   Handler="handler.handler", Code={"ZipFile": make_zip(HANDLER_CODE)},
                   Layers=[layer_arn(name, 1, region=OTHER_REGION)]))
    # Nothing of that changed the function.
    assert "Layers" not in lam.get_function_configuration(FunctionName=fn)
    rec.done()


def test_layer_function_quota_exception(lam):
    rec = Recording("TestLambdaLayer::test_layer_function_quota_exception")
    arns = []
    for _ in range(6):
        n = unique("layer")
        publish(lam, n)
        arns.append(layer_arn(n, 1))
    name = unique()
    rec.check("create_function_with_six_layers",
              call(lam.create_function, FunctionName=name, Runtime="python3.12", Role=ROLE,
                   Handler="handler.handler", Code={"ZipFile": make_zip(HANDLER_CODE)},
                   Layers=arns))
    rec.done()
    assert name not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]


COMPATIBILITIES = {
    "runtimes0": ["nodejs24.x", "nodejs22.x", "nodejs20.x", "nodejs18.x", "nodejs16.x",
                  "nodejs14.x", "nodejs12.x", "python3.14", "python3.13", "python3.12",
                  "python3.11", "python3.10", "python3.9", "python3.8", "python3.7"],
    "runtimes1": ["java25", "java21", "java17", "java11", "java8.al2", "java8", "dotnet10",
                  "dotnet8", "dotnet6", "dotnetcore3.1", "go1.x", "ruby3.4", "ruby3.3",
                  "ruby3.2", "ruby2.7"],
    "runtimes2": ["provided.al2023", "provided.al2", "provided"],
}


@pytest.mark.parametrize("runtimes", sorted(COMPATIBILITIES))
def test_layer_compatibilities(lam, runtimes):
    rec = Recording(f"TestLambdaLayer::test_layer_compatibilities[{runtimes}]")
    rec.check("publish_result", publish(lam, unique("layer"),
                                        CompatibleRuntimes=COMPATIBILITIES[runtimes],
                                        CompatibleArchitectures=["arm64", "x86_64"]))
    rec.done()
