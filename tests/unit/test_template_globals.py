"""Globals merge as SAM's translator merges them: the local reading of the toy template
(tests/fixtures/local_cloud) equals what samtranslator makes of each function."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from local.template import load_yaml, read_template
from tests.support import ROOT

TEMPLATE = ROOT / "tests" / "fixtures" / "local_cloud" / "template.yaml"


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def translated_functions(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """The AWS::Lambda::Function resources samtranslator produces (CodeUri/ContentUri made
    S3 locations, as `sam package` does before the transform)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    document = copy.deepcopy(load_yaml(TEMPLATE))
    document["Globals"]["Function"]["CodeUri"] = "s3://bucket/functions.zip"
    for body in document["Resources"].values():
        if body["Type"] == "AWS::Serverless::LayerVersion":
            body["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    output = transform(document, {}, _NoManagedPolicies())
    return {
        logical_id: body["Properties"]
        for logical_id, body in output["Resources"].items()
        if body["Type"] == "AWS::Lambda::Function"
    }


def test_functions_read_locally_equal_samtranslators(monkeypatch: pytest.MonkeyPatch) -> None:
    translated = translated_functions(monkeypatch)
    local = read_template(TEMPLATE).functions
    assert set(translated) == set(local)
    layer_ids = ["ToyLayer", "ExtraLayer"]
    for logical_id, fn in local.items():
        theirs = translated[logical_id]
        assert fn.timeout_seconds == theirs["Timeout"], logical_id
        assert fn.memory_mb == theirs["MemorySize"], logical_id
        assert dict(fn.environment) == theirs["Environment"]["Variables"], logical_id
        assert fn.reserved_concurrency == theirs.get("ReservedConcurrentExecutions"), logical_id
        their_layers = [
            next(lid for lid in layer_ids if ref["Ref"].startswith(lid))
            for ref in theirs.get("Layers", [])
        ]
        assert [layer["Ref"] for layer in fn.layers] == their_layers, logical_id


def test_a_functions_layers_are_appended_to_the_globals_layers() -> None:
    functions = read_template(TEMPLATE).functions
    assert [layer["Ref"] for layer in functions["SlowFunction"].layers] == [
        "ToyLayer",
        "ExtraLayer",
    ]
    assert [layer["Ref"] for layer in functions["EchoFunction"].layers] == ["ToyLayer"]
    assert functions["ThrottledFunction"].reserved_concurrency == 1
