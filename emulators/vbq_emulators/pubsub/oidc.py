"""OIDC tokens for authenticated push, signed by a key local to this emulator.

Google signs push tokens with its own key and publishes the certificates at
``https://www.googleapis.com/oauth2/v1/certs``. The emulator makes an RSA key (2048 bits) and a
self-signed certificate when first needed, signs RS256 JWTs with the claims Google documents
(``iss`` ``https://accounts.google.com``, ``aud``, ``email``, ``email_verified``, ``azp``,
``sub``, ``iat``, ``exp`` one hour later), and serves the certificate on its admin port in both
of Google's formats, so a receiver verifies with google-auth:
``id_token.verify_token(token, request, audience=..., certs_url="http://H:M/_emulator/oauth2/v1/certs")``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import threading
from typing import Any

__all__ = ["ISSUER", "TOKEN_LIFETIME_S", "TokenSigner"]

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME_S = 3600


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class TokenSigner:
    """Makes push tokens; thread-safe, the key is generated once on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signer: Any = None
        self._cert_pem = ""
        self._public: Any = None
        self.kid = ""

    def _ensure(self) -> None:
        with self._lock:
            if self._signer is not None:
                return
            # Imported here: most emulator runs never sign a token, and these cost ~0.1 s.
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.x509.oid import NameOID
            from google.auth import crypt

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vbq pubsub emulator")])
            now = datetime.datetime.now(datetime.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .sign(key, hashes.SHA256())
            )
            self._cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
            self.kid = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324 - a key id, not a security hash
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            self._public = key.public_key().public_numbers()
            self._signer = crypt.RSASigner.from_string(pem, key_id=self.kid)  # type: ignore[no-untyped-call]

    def token(self, *, audience: str, email: str, now_s: float) -> str:
        """A signed ID token for ``audience`` on behalf of service account ``email``."""
        from google.auth import jwt

        self._ensure()
        subject = str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16))
        issued = int(now_s)
        claims = {
            "aud": audience,
            "azp": subject,
            "email": email,
            "email_verified": True,
            "exp": issued + TOKEN_LIFETIME_S,
            "iat": issued,
            "iss": ISSUER,
            "sub": subject,
        }
        raw = jwt.encode(self._signer, claims, header={"typ": "JWT"})  # type: ignore[no-untyped-call]
        return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)

    def certs(self) -> dict[str, str]:
        """Google's ``oauth2/v1/certs`` format: ``{key id: PEM certificate}``."""
        self._ensure()
        return {self.kid: self._cert_pem}

    def jwks(self) -> dict[str, Any]:
        """Google's ``oauth2/v3/certs`` format: a JSON Web Key Set."""
        self._ensure()
        key = {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url_uint(self._public.n),
            "e": _b64url_uint(self._public.e),
        }
        return {"keys": [key]}
