"""Postgres TLS, chosen by the URL as libpq does (sslmode, sslrootcert): plain locally, verified
in AWS (template.yaml: sslmode=verify-full through RDS Proxy). The verification is checked on a
real TLS handshake: a loopback server answers Postgres' SSLRequest with "S" and a certificate
of its own CA; the client accepts it only when that CA is its root and the name matches."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionParams, connect, with_credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def test_plain_by_default_and_tls_settings_survive_a_change_of_credentials() -> None:
    assert ConnectionParams.from_url("postgresql://u:p@db:5432/crm").ssl_context() is None
    url = "postgresql://u:p@db:5432/crm?sslmode=verify-full&sslrootcert=system"
    params = ConnectionParams.from_url(with_credentials(url, "crm_app", "secret"))
    assert (params.user, params.sslmode, params.sslrootcert) == ("crm_app", "verify-full", "system")
    context = params.ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_require_encrypts_without_verifying_and_unknown_modes_are_refused() -> None:
    context = ConnectionParams.from_url("postgresql://u@db/crm?sslmode=require").ssl_context()
    assert context is not None and context.verify_mode == ssl.CERT_NONE
    with pytest.raises(ValueError, match="sslmode=prefer"):
        ConnectionParams.from_url("postgresql://u@db/crm?sslmode=prefer")


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A CA and a server certificate for "localhost" signed by it: (ca.pem, server.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem = tmp_path / "server.pem"
    server_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + server.public_bytes(serialization.Encoding.PEM)
    )
    return ca_pem, server_pem


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """Answers SSLRequest with "S", completes the TLS handshake, then closes."""
    ca_pem, server_pem = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_pem)
    listener = socket.create_server(("127.0.0.1", 0))
    handshakes: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(8)  # SSLRequest: length 8, code 80877103
                conn.sendall(b"S")
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        handshakes.append(tls.version() or "")
                except (ssl.SSLError, OSError):
                    handshakes.append("refused")

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], ca_pem, handshakes
    listener.close()


def test_verify_full_accepts_the_server_only_with_its_ca_and_name(
    tls_server: tuple[int, Path, list[str]],
) -> None:
    port, ca_pem, handshakes = tls_server
    base = f"postgresql://u:p@localhost:{port}/crm"

    # trusted CA, matching name: the TLS handshake completes (the fake server then hangs up)
    with pytest.raises(pg8000.native.InterfaceError) as completed:
        connect(f"{base}?sslmode=verify-full&sslrootcert={ca_pem}", timeout=5)
    assert not isinstance(completed.value.__cause__, ssl.SSLCertVerificationError)
    assert handshakes[-1].startswith("TLS")

    # the default trust store does not know this CA: refused before any credential is sent
    with pytest.raises(Exception) as unknown:
        connect(f"{base}?sslmode=verify-full&sslrootcert=system", timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in repr(unknown.value) + repr(unknown.value.__cause__)

    # right CA, wrong name (the address, not "localhost")
    wrong = f"postgresql://u:p@127.0.0.1:{port}/crm?sslmode=verify-full&sslrootcert={ca_pem}"
    with pytest.raises(Exception) as mismatch:
        connect(wrong, timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in repr(mismatch.value) + repr(mismatch.value.__cause__)
