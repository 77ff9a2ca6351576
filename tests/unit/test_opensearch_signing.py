"""The OpenSearch client signs its requests with SigV4 when configured so (OPENSEARCH_AUTH=sigv4,
as the template sets for AWS) and sends them unsigned otherwise (the local node). Checked on the
request as a server receives it: a loopback HTTP server captures it, and the signature is
recomputed with botocore from what arrived."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from crm.adapters.opensearch.leads_index import client_for
from crm.settings import SearchSettings

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "session-token-of-the-function-role"


class _Capture(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        payload = json.dumps({"_index": "leads", "_id": "1", "result": "created"}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_PUT = do_POST = do_GET = _answer

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture()
def capture() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Capture.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Capture.requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def role_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # what the Lambda runtime puts in the environment of the function's role
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    for name in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_sigv4_client_signs_each_request_with_the_role_credentials(
    capture: tuple[str, list[dict[str, Any]]], role_credentials: None
) -> None:
    url, requests = capture
    settings = SearchSettings.from_env(
        {"OPENSEARCH_URL": url, "OPENSEARCH_AUTH": "sigv4", "AWS_REGION": "eu-west-1"}
    )
    client = client_for(
        settings.opensearch_url, auth=settings.opensearch_auth, region=settings.aws_region
    )
    client.index(index="leads", id="1", body={"status": "new"})

    assert len(requests) == 1
    sent = requests[0]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    authorization = headers["authorization"]
    amz_date = headers["x-amz-date"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{amz_date[:8]}/eu-west-1/es/aws4_request, "
    )
    assert "SignedHeaders=" in authorization and "Signature=" in authorization
    assert headers["x-amz-security-token"] == SESSION_TOKEN

    # the signature is right for what arrived: recompute it from the received request
    replay = AWSRequest(method=sent["method"], url=url + sent["path"], data=sent["body"])
    replay.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "es", "eu-west-1")
    replay.headers["X-Amz-Date"] = amz_date
    signer._modify_request_before_signing(replay)
    canonical = signer.canonical_request(replay)
    string_to_sign = signer.string_to_sign(replay, canonical)
    expected = signer.signature(string_to_sign, replay)
    assert authorization.endswith(f"Signature={expected}")
    assert headers["x-amz-content-sha256"] == signer.payload(replay)


def test_unsigned_client_sends_no_authorization(
    capture: tuple[str, list[dict[str, Any]]], role_credentials: None
) -> None:
    url, requests = capture
    settings = SearchSettings.from_env({"OPENSEARCH_URL": url})
    assert settings.opensearch_auth == "none"
    client_for(settings.opensearch_url, auth=settings.opensearch_auth).index(
        index="leads", id="1", body={"status": "new"}
    )
    headers = {k.lower() for k in requests[0]["headers"]}
    assert "authorization" not in headers and "x-amz-date" not in headers


def test_unknown_auth_and_missing_region_are_refused() -> None:
    with pytest.raises(ValueError, match="none or sigv4"):
        client_for("http://127.0.0.1:1", auth="basic")
    with pytest.raises(ValueError, match="region"):
        client_for("http://127.0.0.1:1", auth="sigv4", region=None)
