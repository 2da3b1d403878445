"""The example's "sealed box": a secret encrypted to the vault's X25519 public key (used by both sides).

shared = X25519(ephemeral, vault public key); k = SHA-256("wasmhive-example-box/1" | shared | eph | pub);
the body is XORed with SHA-256(k_enc | counter) blocks and authenticated with HMAC-SHA256(k_mac, eph | ct)
(encrypt-then-MAC, standard-library primitives only, because the guest has no AES library).
"""

import hashlib
import hmac

LABEL = b"wasmhive-example-box/1"


def _keys(shared: bytes, eph_pub: bytes, vault_pub: bytes) -> tuple[bytes, bytes]:
    k = hashlib.sha256(LABEL + shared + eph_pub + vault_pub).digest()
    return hashlib.sha256(k + b"enc").digest(), hashlib.sha256(k + b"mac").digest()


def _stream(key: bytes, data: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(data), 32):
        block = hashlib.sha256(key + (i // 32).to_bytes(8, "big")).digest()
        out += bytes(x ^ y for x, y in zip(data[i:i + 32], block, strict=False))  # the last block is short
    return bytes(out)


def close(shared: bytes, eph_pub: bytes, vault_pub: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, tag) for `plaintext`."""
    enc, mac = _keys(shared, eph_pub, vault_pub)
    ct = _stream(enc, plaintext)
    return ct, hmac.new(mac, eph_pub + ct, hashlib.sha256).digest()


def open_(shared: bytes, eph_pub: bytes, vault_pub: bytes, ct: bytes, tag: bytes) -> bytes:
    """The plaintext, or ValueError if the tag does not verify."""
    enc, mac = _keys(shared, eph_pub, vault_pub)
    if not hmac.compare_digest(hmac.new(mac, eph_pub + ct, hashlib.sha256).digest(), tag):
        raise ValueError("the box does not verify")
    return _stream(enc, ct)
