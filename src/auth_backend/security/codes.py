"""One-time codes and link tokens for mailed flows: making them, hashing them, and sealing a
provider's own token under the link's.

A mail carries two credentials for one purpose: a 6-digit code to type and a link with a
256-bit random token. Only hashes are stored: the token's SHA-256 (its 256 bits make more
unnecessary), and the code's SHA-256 salted with its row's id. Six digits are a small space,
so a leaked row's code hash can be searched; what protects a code is its short life, its
single use and its few allowed wrong guesses (store/one_time_codes.py), not the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from uuid import UUID

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CODE_DIGITS = 6
LINK_TOKEN_BYTES = 32  # 256 bits: 43 characters of base64url
_SEAL_INFO = b"auth-backend mailed-code upstream secret v1"
_NONCE_BYTES = 12


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_link_token() -> str:
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def hash_code(code: str, salt: UUID) -> str:
    return hashlib.sha256(salt.bytes + code.encode("ascii")).hexdigest()


def code_matches(code: str, salt: UUID, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_code(code, salt), stored_hash)


def _key_from_link_token(token: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(
        token.encode("ascii")
    )


def seal(secret: str, link_token: str) -> str:
    """`secret` encrypted (AES-256-GCM) under a key derived from `link_token`: stored beside
    the token's hash, it can be read only by whoever presents the link."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(_key_from_link_token(link_token)).encrypt(nonce, secret.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(sealed: str, link_token: str) -> str:
    """The secret `seal` sealed under `link_token`; raises ValueError for any other token or a
    damaged value."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return AESGCM(_key_from_link_token(link_token)).decrypt(nonce, body, None).decode()
    except Exception as error:  # InvalidTag, binascii.Error, UnicodeDecodeError alike
        raise ValueError("the sealed secret does not open with this token") from error
