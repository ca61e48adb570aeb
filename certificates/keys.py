"""Private keys at rest, behind a small key-backend interface.

Today keys live in the database, AES-256-GCM encrypted under a key derived (HKDF-SHA256) from
settings.YQ_KEY_ENCRYPTION_KEY. Each blob is bound to a context (the fingerprint of the
certificate the key belongs to) as associated data, so a blob copied onto another row does not
decrypt. An HSM backend would implement the same two methods.
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


class KeyDecryptionError(Exception):
    pass


class EncryptedDatabaseKeyBackend:
    def __init__(self, master_key_b64: str | None = None) -> None:
        master = base64.urlsafe_b64decode(
            (master_key_b64 or settings.YQ_KEY_ENCRYPTION_KEY).encode()
        )
        self._aead = AESGCM(
            HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"yueqiqian private keys v1"
            ).derive(master)
        )

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


def key_backend() -> KeyBackend:
    return EncryptedDatabaseKeyBackend()
