"""RFC 7512 URIs of token keys, and the PEM file through which OpenSSL's pkcs11-provider reads one.

The file holds one PEM object of type "PKCS#11 PROVIDER URI": the DER of
SEQUENCE { desc VisibleString "PKCS#11 Provider URI v1.0", uri UTF8String }. It must be the only
object in its file; `ssl.SSLContext.load_cert_chain` then takes it as the key file.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import quote

URI_PEM_LABEL = "PKCS#11 PROVIDER URI"
_URI_PEM_DESC = b"PKCS#11 Provider URI v1.0"


def token_uri(token_label: str, key_label: str, pin_file: Path | None = None) -> str:
    """The RFC 7512 URI of a token's private key, with the PIN file as its pin-source."""
    uri = f"pkcs11:token={_pct(token_label)};object={_pct(key_label)};type=private"
    if pin_file is not None:
        uri += "?pin-source=" + quote(f"file:{pin_file}", safe="/:")
    return uri


def uri_pem(uri: str) -> bytes:
    """The PEM of type "PKCS#11 PROVIDER URI" naming `uri`, as pkcs11-provider reads it."""
    body = _der(0x1A, _URI_PEM_DESC) + _der(0x0C, uri.encode("utf-8"))
    b64 = base64.encodebytes(_der(0x30, body)).decode("ascii").replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "\n".join(
        [f"-----BEGIN {URI_PEM_LABEL}-----", *lines, f"-----END {URI_PEM_LABEL}-----", ""]
    ).encode()


def write_uri_pem(path: Path, uri: str) -> None:
    """Write `uri` as the only object of the PEM file `path` (atomically: a new file, renamed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(uri_pem(uri))
    tmp.chmod(0o644)
    tmp.replace(path)


def _pct(value: str) -> str:
    """Percent-encode a URI path attribute value (RFC 7512 pk-char stays as is)."""
    return quote(value, safe="-._~&+!$'()*,:=@")


def _der(tag: int, body: bytes) -> bytes:
    """One DER TLV."""
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body
