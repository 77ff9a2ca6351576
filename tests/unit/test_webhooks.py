"""Webhook rules without I/O: the Standard Webhooks signature (against a vector computed here
with hmac), event-type matching and validation, target URLs and private addresses; and the
sender against a local HTTP server (pinned address, no redirects, refusals)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from crm.adapters.webhooks.signed import PinnedWebhookSender, resolve_host
from crm.domain.errors import ValidationFailed
from crm.domain.event_catalog import CATALOG
from crm.domain.webhooks import (
    SECRET_PREFIX,
    TargetPolicy,
    address_problems,
    event_type_problems,
    is_private_address,
    matches,
    new_secret,
    parse_target,
    secret_key,
    sign,
    signed_headers,
)
from crm.services.webhooks import WebhookSettings, validation_problems
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# A fixed secret: 32 bytes 0x00..0x1f, base64 as the whsec_ format wants.
KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def test_signature_matches_an_independent_hmac() -> None:
    body = b'{"id":"e1","type":"crm.lead.created"}'
    expected = base64.b64encode(
        hmac.new(KEY, b"msg_1.1700000000." + body, hashlib.sha256).digest()
    ).decode()
    assert sign(SECRET, "msg_1", 1700000000, body) == f"v1,{expected}"
    headers = signed_headers(SECRET, "msg_1", 1700000000, body)
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1,{expected}",
    }


def test_signature_changes_with_each_signed_part() -> None:
    base = sign(SECRET, "m", 1, b"{}")
    assert sign(SECRET, "n", 1, b"{}") != base
    assert sign(SECRET, "m", 2, b"{}") != base
    assert sign(SECRET, "m", 1, b"[]") != base
    assert sign(new_secret(), "m", 1, b"{}") != base


def test_new_secrets_are_whsec_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith(SECRET_PREFIX) and first != second
    assert len(secret_key(first)) == 32


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["crm.lead.created"], "crm.lead.created", True),
        (["crm.lead.created"], "crm.lead.updated", False),
        (["crm.deal.*"], "crm.deal.won", True),
        (["crm.deal.*"], "crm.dealer.x", False),
        (["crm.deal.*"], "crm.lead.created", False),
        (["crm.*"], "crm.contact.created", True),
        (["crm.lead.created", "crm.deal.*"], "crm.deal.created", True),
        (["crm.lead"], "crm.lead.created", False),
    ],
)
def test_event_type_matching(patterns: list[str], event_type: str, expected: bool) -> None:
    assert matches(patterns, event_type) is expected


def test_event_types_must_be_catalogued_or_a_matching_prefix() -> None:
    assert event_type_problems(["crm.lead.created", "crm.deal.*"], CATALOG) == []
    problems = event_type_problems(["crm.lead.exploded", "crm.nothing.*", "crm.lead"], CATALOG)
    assert len(problems) == 3
    assert "crm.lead.exploded" in problems[0] and "crm.nothing.*" in problems[1]


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
     "224.0.0.1", "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "ff02::1"],
)  # fmt: skip
def test_private_addresses(address: str) -> None:
    assert is_private_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert not is_private_address(address)


def test_any_private_address_refuses_the_host_unless_allowed() -> None:
    strict, local = TargetPolicy(), TargetPolicy(allow_http=True, allow_private=True)
    assert address_problems(["93.184.216.34"], strict) == []
    assert address_problems(["93.184.216.34", "10.0.0.1"], strict)
    assert address_problems(["127.0.0.1"], local) == []
    assert address_problems([], local) == ["the host does not resolve"]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://token@hooks.example.com/x", "credentials"),
        ("https:///nohost", "host"),
        ("https://hooks.example.com/x#frag", "fragment"),
        ("https://hooks.example.com/" + "a" * 2048, "2048"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com:99999/", "valid URL"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    target, problems = parse_target(url, TargetPolicy())
    assert target is None
    assert any(fragment in p for p in problems), problems


def test_good_url_parts() -> None:
    target, problems = parse_target("https://hooks.example.com:8443/in?x=1", TargetPolicy())
    assert problems == [] and target is not None
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?x=1")
    http, problems = parse_target("http://127.0.0.1/", TargetPolicy(allow_http=True))
    assert problems == [] and http is not None and http.port == 80


class _NoCipher:
    def encrypt(self, plaintext: str, *, context: str) -> str:
        raise AssertionError("not used")

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        raise AssertionError("not used")


def _settings(addresses: dict[str, list[str]], policy: TargetPolicy) -> WebhookSettings:
    return WebhookSettings(
        cipher=_NoCipher(), policy=policy, resolve=lambda host, port: addresses.get(host, [])
    )


def test_validation_names_each_field() -> None:
    settings = _settings(
        {"public.example": ["93.184.216.34"], "rebind.example": ["10.0.0.7"]}, TargetPolicy()
    )
    assert validation_problems(settings, "https://public.example/h", ["crm.lead.created"]) == []
    problems = validation_problems(settings, "https://rebind.example/h", ["crm.nope"])
    assert {tuple(p["loc"]) for p in problems} == {("body", "url"), ("body", "event_types")}
    assert "private" in problems[0]["msg"]
    assert validation_problems(settings, "https://unknown.example/", None)[0]["msg"] == (
        "the host does not resolve"
    )
    assert validation_problems(settings, None, [])[0]["msg"] == "at least one event type"
    assert isinstance(ValidationFailed("x", problems), ValidationFailed)


def test_literal_hosts_resolve_to_themselves() -> None:
    assert resolve_host("127.0.0.1") == ["127.0.0.1"]
    assert resolve_host("no-such-host.invalid") == []


# ------------------------------------------------------------------ the sender, for real


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
            elif self.path.startswith("/fail"):
                self.send_response(500)
            else:
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_sender_posts_the_signed_body(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    base, received = receiver
    sender = PinnedWebhookSender(TargetPolicy(allow_http=True, allow_private=True), 5)
    headers = signed_headers(SECRET, "d1", 1700000000, b'{"a":1}')
    result = sender.post(f"{base}/hooks?x=1", b'{"a":1}', headers)
    assert result.delivered and result.status_code == 204
    [request] = received
    assert request["path"] == "/hooks?x=1" and request["body"] == b'{"a":1}'
    assert request["headers"]["webhook-signature"] == headers["webhook-signature"]
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["host"] == base.removeprefix("http://")


def test_sender_follows_no_redirect_and_reports_failures(
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    base, received = receiver
    sender = PinnedWebhookSender(TargetPolicy(allow_http=True, allow_private=True), 5)
    redirected = sender.post(f"{base}/redirect", b"{}", {})
    assert not redirected.delivered and redirected.status_code == 302
    failed = sender.post(f"{base}/fail", b"{}", {})
    assert not failed.delivered and failed.error == "answered HTTP 500"
    assert [r["path"] for r in received] == ["/redirect", "/fail"]  # /elsewhere never asked


def test_sender_refuses_private_targets_at_send_time(
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    base, received = receiver
    strict_http = PinnedWebhookSender(TargetPolicy(allow_http=True, allow_private=False), 5)
    refused = strict_http.post(f"{base}/hooks", b"{}", {})
    assert not refused.delivered and refused.status_code is None and refused.refused
    # The receiver's answer names no address: the delivery ledger is the tenant's to read.
    assert refused.error == "target not allowed"
    strict = PinnedWebhookSender(TargetPolicy(), 5)
    assert strict.post(f"{base}/hooks", b"{}", {}).error == "target not allowed"
    assert received == []


def test_sender_reports_an_unreachable_target() -> None:
    sender = PinnedWebhookSender(TargetPolicy(allow_http=True, allow_private=True), 2)
    result = sender.post("http://127.0.0.1:1/hooks", b"{}", {})
    assert not result.delivered and result.status_code is None and result.error


# ------------------------------------------------------------------ https, pinned


def _self_signed(tmp_path: Path, name: str) -> tuple[str, str]:
    """A certificate for `name` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture()
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, str, list[dict[str, Any]]]]:
    """An https receiver on 127.0.0.1 whose certificate names hooks.test."""
    cert, key = _self_signed(tmp_path, "hooks.test")
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, cert, received
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_checked_address_with_the_urls_host_verified(
    tls_receiver: tuple[int, str, list[dict[str, Any]]],
) -> None:
    port, ca, received = tls_receiver
    resolved: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        resolved.append(host)
        return {"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}.get(host, [])

    policy = TargetPolicy(allow_private=True)  # https only; 127.0.0.1 stands for a public host
    sender = PinnedWebhookSender(policy, 5, resolve=resolve, ca_certs=ca)
    result = sender.post(f"https://hooks.test:{port}/in", b'{"a":1}', {"webhook-id": "d1"})
    assert result.delivered and result.status_code == 200, result
    [request] = received
    assert request["headers"]["host"] == f"hooks.test:{port}" and request["body"] == b'{"a":1}'
    # A name whose certificate is not the server's: TLS verification refuses it.
    mismatch = sender.post(f"https://other.test:{port}/in", b"{}", {})
    assert not mismatch.delivered and mismatch.status_code is None and mismatch.error
    # Without the test CA (the system's trust store), the self-signed server is refused.
    untrusted = PinnedWebhookSender(policy, 5, resolve=resolve)
    assert not untrusted.post(f"https://hooks.test:{port}/in", b"{}", {}).delivered
    assert len(received) == 1 and resolved == ["hooks.test", "other.test", "hooks.test"]
