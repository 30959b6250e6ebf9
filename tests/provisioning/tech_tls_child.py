"""Child of test_technician_tls: the technician's TLS to a server, with pkcs11-provider loaded
as kiosk-provision loads it (SOFTHSM2_CONF names the test's own tokens). argv: folder, module,
token label, PIN file, "pin" or "no-pin" (its PIN file given to the provider or not). Prints
"verified" or the error."""

from __future__ import annotations

import datetime
import socket
import ssl
import sys
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.tls import client_context, load_token_provider, write_token_provider_config
from common.token import Token, TokenConfig, write_uri_pem
from provisioning.technician import load_technician


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    path: Path,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None,
) -> None:
    """A certificate for `key`, self-signed or by `issuer` (its name and key)."""
    now = datetime.datetime.now(datetime.UTC)
    signer_name, signer_key = issuer or (name, key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, signer_name)])
    builder = x509.CertificateBuilder(
        signer, subject, key.public_key(), 1, now, now.replace(year=2100)
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
    cert = builder.sign(signer_key, hashes.SHA256())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def main() -> None:
    folder, module, pin_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[4])
    label, mode = sys.argv[3], sys.argv[5]
    token = Token.open(TokenConfig(module, label, pin_file))
    tech_key = token.generate_key("tech")
    _cert("tech-test", tech_key, folder / "tech.pem")
    write_uri_pem(folder / "tech.key", tech_key.uri)
    token.close()
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    _cert("Test Server CA", ca_key, folder / "server-ca.pem")  # a chain, as the fleet's
    _cert("localhost", server_key, folder / "server.pem", ("Test Server CA", ca_key))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "server.pem", folder / "server.key")
    server.verify_mode = ssl.CERT_REQUIRED  # as the fleet service asks for the technician's
    server.load_verify_locations(folder / "tech.pem")
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            server.wrap_socket(conn, server_side=True).close()
        except (OSError, ssl.SSLError):
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    tech = load_technician(folder / "tech.pem", folder / "tech.key", token_module=module)
    pin = tech.pin_file if mode == "pin" else None
    load_token_provider(write_token_provider_config(folder / "openssl.cnf", module, pin))
    ctx = client_context(folder / "server-ca.pem", folder / "tech.pem", folder / "tech.key")
    try:
        sock = socket.create_connection(listener.getsockname(), timeout=10)
        ctx.wrap_socket(sock, server_hostname="localhost").close()
        print("verified")
    except ssl.SSLError as err:
        print(f"failed: {err}")


if __name__ == "__main__":
    main()
