"""The OpenAPI document and the docs page through the local cloud's gateway: public (no
credential, and a bad one changes nothing), the committed document with every template route."""

from __future__ import annotations

import json

import pytest
import requests
from crm.api.openapi import operations, route_key

from local.template import read_template
from scripts.openapi import DOCUMENT
from tests.e2e.conftest import LocalCloudProcess
from tests.support import ROOT

pytestmark = pytest.mark.e2e


def test_openapi_json_is_public_and_documents_every_template_route(
    local_cloud: LocalCloudProcess,
) -> None:
    response = requests.get(local_cloud.url + "/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document == json.loads(DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1")
    declared = {route_key(r.method, r.path) for r in read_template(ROOT / "template.yaml").routes}
    assert operations(document) == declared
    # public: a credential is neither needed nor looked at
    again = requests.get(
        local_cloud.url + "/openapi.json", headers={"Authorization": "Bearer junk"}, timeout=30
    )
    assert again.status_code == 200 and again.json() == document


def test_docs_page_is_public_html_that_loads_the_document(local_cloud: LocalCloudProcess) -> None:
    response = requests.get(local_cloud.url + "/docs", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert 'fetch("openapi.json"' in response.text
    # the relative URL the page fetches resolves to the document's route
    assert requests.get(local_cloud.url + "/openapi.json", timeout=30).status_code == 200


def test_a_protected_route_still_needs_a_credential(local_cloud: LocalCloudProcess) -> None:
    response = requests.get(local_cloud.url + "/leads", timeout=30)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
