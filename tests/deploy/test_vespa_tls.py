"""The config-server client over HTTPS with a client certificate (a CA, server and client cert made here)."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from _configserver import FakeConfigServer, success
from appkit.deploy.vespa import VespaDeployError, deploy_to_vespa


def _with_cryptography(d: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def make(name: str, issuer_key, issuer_name, ca: bool, usage=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                            critical=True)
        else:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
        return key, subject

    ca_key, ca_name = make("ca", None, None, True)
    make("server", ca_key, ca_name, False, ExtendedKeyUsageOID.SERVER_AUTH)
    make("client", ca_key, ca_name, False, ExtendedKeyUsageOID.CLIENT_AUTH)


def _with_openssl(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext")


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    try:
        _with_cryptography(d)
    except ImportError:
        if not shutil.which("openssl"):
            pytest.skip("needs the `cryptography` package or the `openssl` command to make test certificates")
        _with_openssl(d)
    return d


def server_context(certs: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs / "server.pem", certs / "server.key")
    context.load_verify_locations(certs / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as a secured config server does
    return context


def test_deploy_over_https_with_a_client_certificate(certs):
    with FakeConfigServer([(200, success())], tls=server_context(certs)) as server:
        result = deploy_to_vespa(server.url, b"PK-zip", cert=str(certs / "client.pem"), key=str(certs / "client.key"),
                                 ca_cert=str(certs / "ca.pem"), wait=2)
    assert result.activated and server.url.startswith("https://")
    assert server.requests[0].body == b"PK-zip"


def test_https_without_the_client_certificate_is_a_tls_error(certs):
    with FakeConfigServer([(200, success())], tls=server_context(certs)) as server:
        with pytest.raises(VespaDeployError) as info:
            deploy_to_vespa(server.url, b"PK-zip", ca_cert=str(certs / "ca.pem"), wait=0.5)
    d = info.value.diagnostics[0]
    # depending on timing the server's alert or its closing of the connection arrives first
    assert d.code == "AK522" and "client certificate" in d.message and "--cert and --key" in d.hint
    assert server.requests == []


def test_a_server_the_ca_does_not_sign_is_refused(certs, tmp_path):
    with FakeConfigServer([(200, success())], tls=server_context(certs)) as server:
        with pytest.raises(VespaDeployError) as info:  # the system CAs do not know the test CA
            deploy_to_vespa(server.url, b"PK-zip", cert=str(certs / "client.pem"), key=str(certs / "client.key"),
                            wait=0.5)
    d = info.value.diagnostics[0]
    assert d.code == "AK522" and "server's certificate is not trusted" in d.message and "--ca-cert" in d.hint


def test_unreadable_tls_files_are_named(certs, tmp_path):
    with pytest.raises(VespaDeployError) as info:
        deploy_to_vespa("https://127.0.0.1:1", b"", cert=str(tmp_path / "missing.pem"), key=str(tmp_path / "k.pem"))
    d = info.value.diagnostics[0]
    assert d.code == "AK522" and "missing.pem" in d.hint
