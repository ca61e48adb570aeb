"""Private keys and other secrets at rest, behind a small key-backend interface.

Today keys live in the database, AES-256-GCM encrypted under a key derived (HKDF-SHA256) from
settings.YQ_KEY_ENCRYPTION_KEY. Each blob is bound to a context (the fingerprint of the
certificate the key belongs to, or the merchant id a payment secret belongs to) as associated
data, so a blob copied onto another row does not decrypt. Symmetric secrets (a WeChat Pay APIv3
key) are sealed under a second derived key, so a secret blob never opens as a private key or the
other way round. An HSM backend would implement the same four methods.
"""

import base64
import os
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

BLOB_VERSION = b"\x01"


class KeyBackend(Protocol):
    def wrap(self, key: PrivateKeyTypes, *, context: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, *, context: bytes) -> PrivateKeyTypes: ...

    def seal_secret(self, data: bytes, *, context: bytes) -> bytes: ...

    def open_secret(self, blob: bytes, *, context: bytes) -> bytes: ...


class KeyDecryptionError(Exception):
    pass


class EncryptedDatabaseKeyBackend:
    def __init__(self, master_key_b64: str | None = None) -> None:
        master = base64.urlsafe_b64decode(
            (master_key_b64 or settings.YQ_KEY_ENCRYPTION_KEY).encode()
        )
        self._aead = AESGCM(_derive(master, info=b"yueqiqian private keys v1"))
        self._secrets_aead = AESGCM(_derive(master, info=b"yueqiqian secrets v1"))

    def wrap(self, key: PrivateKeyTypes, *, context: bytes) -> bytes:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(12)
        return BLOB_VERSION + nonce + self._aead.encrypt(nonce, der, context)

    def unwrap(self, blob: bytes, *, context: bytes) -> PrivateKeyTypes:
        blob = bytes(blob)
        if blob[:1] != BLOB_VERSION:
            raise KeyDecryptionError("unknown key blob version")
        try:
            der = self._aead.decrypt(blob[1:13], blob[13:], context)
        except Exception as exc:  # cryptography raises InvalidTag
            raise KeyDecryptionError("private key does not decrypt under this context") from exc
        return serialization.load_der_private_key(der, password=None)

    def seal_secret(self, data: bytes, *, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return BLOB_VERSION + nonce + self._secrets_aead.encrypt(nonce, bytes(data), context)

    def open_secret(self, blob: bytes, *, context: bytes) -> bytes:
        blob = bytes(blob)
        if blob[:1] != BLOB_VERSION:
            raise KeyDecryptionError("unknown secret blob version")
        try:
            return self._secrets_aead.decrypt(blob[1:13], blob[13:], context)
        except Exception as exc:  # cryptography raises InvalidTag
            raise KeyDecryptionError("secret does not decrypt under this context") from exc


def _derive(master: bytes, *, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def key_backend() -> KeyBackend:
    return EncryptedDatabaseKeyBackend()
