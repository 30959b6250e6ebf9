"""EST (RFC 7030) on the fleet service: cacerts, simpleenroll with a single-use token,
simplereenroll with the current certificate, and every refusal with its message."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleet.ca.csr import KEY_ORIGIN
from tests.fleet.ca.conftest import (
    INSTITUTION,
    KIOSK,
    OTHER_SERIAL,
    SERIAL,
    Est,
    certs_of,
    csr,
    start_est,
    write_pair,
)

ENROLL = "/.well-known/est/simpleenroll"
REENROLL = "/.well-known/est/simplereenroll"


async def _enrol(est: Est) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    token = await est.token()
    body, key = csr()
    status, answer, headers = await est.post(ENROLL, body, auth=(SERIAL, token))
    assert status == 200, answer
    assert headers["Content-Type"].startswith("application/pkcs7-mime")
    (cert,) = certs_of(answer)
    return cert, key


async def test_cacerts_answers_the_device_ca(est: Est) -> None:
    status, body, headers = await est.get("/.well-known/est/cacerts")
    assert status == 200
    assert headers["Content-Type"] == "application/pkcs7-mime; smime-type=certs-only"
    assert headers["Content-Transfer-Encoding"] == "base64"
    assert [c.subject for c in certs_of(body)] == [est.issuer.ca.cert.subject]


async def test_a_token_enrols_a_kiosk_once(est: Est) -> None:
    cert, _key = await _enrol(est)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == KIOSK
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == INSTITUTION
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=30) <= life <= dt.timedelta(days=30, minutes=6)
    entry = est.store.device(KIOSK)
    assert entry is not None and entry.cert_serial == format(cert.serial_number, "x")
    assert entry.cert_expires == int(cert.not_valid_after_utc.timestamp())
    # the token is stored hashed only
    rows = est.store.certificates(name=KIOSK)
    assert [r.serial for r in rows] == [format(cert.serial_number, "x")]


async def test_a_used_token_is_refused(est: Est) -> None:
    token = await est.token()
    body, _ = csr()
    assert (await est.post(ENROLL, body, auth=(SERIAL, token)))[0] == 200
    status, text, headers = await est.post(ENROLL, csr()[0], auth=(SERIAL, token))
    assert status == 401
    assert b"already used" in text
    assert headers["WWW-Authenticate"].startswith("Basic")


async def test_an_expired_token_is_refused(est: Est) -> None:
    token = await est.token()
    est.wall.now += 15 * 60
    status, text, _ = await est.post(ENROLL, csr()[0], auth=(SERIAL, token))
    assert (status, b"expired" in text) == (401, True)


async def test_a_token_of_another_serial_is_refused(est: Est) -> None:
    token = await est.token(OTHER_SERIAL)
    status, text, _ = await est.post(ENROLL, csr()[0], auth=(SERIAL, token))
    assert status == 403
    assert b"another kiosk" in text


async def test_an_unknown_token_or_none_is_refused(est: Est) -> None:
    status, text, _ = await est.post(ENROLL, csr()[0], auth=(SERIAL, "made-up"))
    assert (status, b"not known" in text) == (401, True)
    status, text, _ = await est.post(ENROLL, csr()[0])
    assert (status, b"HTTP Basic" in text) == (401, True)


async def test_a_csr_with_another_subject_is_refused_and_the_token_kept(est: Est) -> None:
    token = await est.token()
    status, text, _ = await est.post(ENROLL, csr(cn="KIOSK-EST-2")[0], auth=(SERIAL, token))
    assert status == 400
    assert b"CN=KIOSK-EST-1, O=perpus-a" in text
    # the token was not used by the refused request
    assert (await est.post(ENROLL, csr()[0], auth=(SERIAL, token)))[0] == 200


async def test_a_weak_key_is_refused(est: Est) -> None:
    token = await est.token()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    status, text, _ = await est.post(ENROLL, csr(key=weak)[0], auth=(SERIAL, token))
    assert status == 400
    assert b"weak" in text and b"P-256" in text
    other_curve = ec.generate_private_key(ec.SECP256K1())
    status, _, _ = await est.post(ENROLL, csr(key=other_curve)[0], auth=(SERIAL, token))
    assert status == 400


async def test_garbage_is_a_400_with_a_message(est: Est) -> None:
    token = await est.token()
    status, text, _ = await est.post(ENROLL, b"%%%", auth=(SERIAL, token))
    assert (status, b"base64" in text) == (400, True)
    status, text, _ = await est.post(ENROLL, b"AAAA", auth=(SERIAL, token))
    assert (status, b"PKCS#10" in text) == (400, True)


async def test_the_token_key_policy_wants_the_claim(tmp_path) -> None:  # type: ignore[no-untyped-def]
    est, close = await start_est(tmp_path, key_origin="token-claimed")
    try:
        token = await est.token()
        status, text, _ = await est.post(ENROLL, csr()[0], auth=(SERIAL, token))
        assert status == 400
        assert b"made in a token" in text
        claim = x509.UnrecognizedExtension(KEY_ORIGIN, b"\x0c\x07SoftHSM")
        status, _, _ = await est.post(ENROLL, csr(extensions=[claim])[0], auth=(SERIAL, token))
        assert status == 200
    finally:
        await close()


async def test_only_technicians_get_tokens(est: Est) -> None:
    body = f'{{"serial": "{SERIAL}", "institution": "{INSTITUTION}"}}'.encode()
    await _enrol(est)
    status, text, _ = await est.post("/enrol/v1/tokens", body, content_type="application/json")
    assert (status, b"technician" in text) == (403, True)
    device = est.pki.issue_device("KIOSK-X", INSTITUTION)
    status, _, _ = await est.post("/enrol/v1/tokens", body, client=device)
    assert status == 403
    wrong = f'{{"serial": "{SERIAL}", "institution": "other"}}'.encode()
    status, text, _ = await est.post("/enrol/v1/tokens", wrong, client=est.technician)
    assert (status, b"another institution" in text) == (403, True)
    unknown = f'{{"serial": "NOPE", "institution": "{INSTITUTION}"}}'.encode()
    status, text, _ = await est.post("/enrol/v1/tokens", unknown, client=est.technician)
    assert (status, b"devices add" in text) == (404, True)


async def test_reenrolment_with_the_current_certificate_and_a_new_key(est: Est) -> None:
    cert, key = await _enrol(est)
    current = write_pair(est.folder, "current", cert, key)
    status, answer, _ = await est.post(REENROLL, csr()[0], client=current)
    assert status == 200, answer
    (renewed,) = certs_of(answer)
    assert renewed.subject == cert.subject
    assert renewed.serial_number != cert.serial_number
    # the same key again is refused
    status, text, _ = await est.post(REENROLL, csr(key=key)[0], client=current)
    assert (status, b"new key" in text) == (400, True)
    # another subject is refused
    status, text, _ = await est.post(REENROLL, csr(cn="KIOSK-EST-2")[0], client=current)
    assert (status, b"keeps the subject" in text) == (400, True)


async def test_reenrolment_without_a_certificate_is_refused(est: Est) -> None:
    status, text, _ = await est.post(REENROLL, csr()[0])
    assert (status, b"current device certificate" in text) == (401, True)


async def test_reenrolment_with_a_revoked_certificate_is_refused(est: Est) -> None:
    cert, key = await _enrol(est)
    current = write_pair(est.folder, "current", cert, key)
    assert est.issuer.revoke_device(est.store, KIOSK, "deactivation")
    status, text, _ = await est.post(REENROLL, csr()[0], client=current)
    assert (status, b"revoked" in text) == (403, True)


async def test_reenrolment_with_an_expired_certificate_is_refused(est: Est) -> None:
    cert, key = await _enrol(est)
    current = write_pair(est.folder, "current", cert, key)
    est.wall.now += 31 * 86400
    status, text, _ = await est.post(REENROLL, csr()[0], client=current)
    assert (status, b"expired" in text) == (403, True)


async def test_a_really_expired_certificate_gets_a_message_not_a_tls_alert(est: Est) -> None:
    real = est.wall.now
    token = await est.token()
    est.wall.now = real - 40 * 86400
    body, key = csr()
    status, answer, _ = await est.post(ENROLL, body, auth=(SERIAL, token))
    assert status == 200, answer
    (cert,) = certs_of(answer)
    est.wall.now = real
    assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
    current = write_pair(est.folder, "expired", cert, key)
    status, text, _ = await est.post(REENROLL, csr()[0], client=current)
    assert (status, b"expired" in text) == (403, True)
