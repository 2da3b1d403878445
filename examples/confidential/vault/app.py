"""The vault: a wasi:http guest that keeps a client's secret sealed to its own code (wasmhive:tee).

  GET  /key?nonce=HEX   its X25519 public key and evidence binding that key to this code and the nonce
  POST /secret          a secret boxed to that key (JSON: ephemeral, ciphertext, tag, all hex): it is
                        opened here, sealed (same-code policy) and kept in the key-value store
  GET  /use?msg=TEXT    HMAC-SHA256(secret, TEXT): proof that this code can still unseal the secret in a
                        later request, without ever revealing it
The private key itself is sealed in the key-value store too, so every request (a fresh instance) gets
the same key pair, and only this exact code can. Change one byte of this program and it cannot.
"""

import hashlib
import hmac
import json
import os
from urllib.parse import parse_qs, urlparse

import box
import x25519
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import attestation, sealing, store, streams
from wit_world.imports.types import Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam

EDITION = "genuine"  # the impostor build changes this one word: another measurement


def respond(out: ResponseOutparam, status: int, body: bytes, ctype: bytes = b"application/json") -> None:
    resp = OutgoingResponse(Fields.from_list([("content-type", ctype)]))
    resp.set_status_code(status)
    ob = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    stream = ob.write()
    for i in range(0, len(body), 4096):
        stream.blocking_write_and_flush(body[i:i + 4096])
    stream.__exit__(None, None, None)
    OutgoingBody.finish(ob, None)


def read_body(request: IncomingRequest) -> bytes:
    stream = request.consume().stream()
    parts = []
    while True:
        try:
            parts.append(stream.blocking_read(65536))
        except Err as e:
            if isinstance(e.value, streams.StreamError_Closed):
                break
            raise
    stream.__exit__(None, None, None)
    return b"".join(parts)


class Refused(Exception):
    """Sealing refused (another module, tampered...): answered 403 with the host's reason."""


def unseal(blob: bytes) -> bytes:
    try:
        return sealing.unseal(blob)
    except Err as e:
        raise Refused(f"cannot unseal: {type(e.value).__name__}: {e.value.value}") from None


def key_pair(bucket) -> tuple[bytes, bytes]:
    """This code's private key, unsealed from the store, or made and sealed on first use."""
    name = f"{EDITION}/private-key"  # each build keeps its own key pair; the secret's key is shared
    blob = bucket.get(name)
    if blob is None:
        private = os.urandom(32)
        bucket.set(name, sealing.seal(private, sealing.Policy.SAME_CODE))
    else:
        private = unseal(blob)
    return private, x25519.public_key(private)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        url = urlparse(request.path_with_query() or "/")
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        op = url.path.rsplit("/", 1)[-1]
        try:
            bucket = store.open("default")
            if op == "key":
                private, public = key_pair(bucket)
                evidence = attestation.report(bytes.fromhex(q["nonce"]), public)
                respond(response_out, 200, json.dumps({"public_key": public.hex(), "evidence": evidence,
                                                       "edition": EDITION}).encode())
            elif op == "secret":
                msg = json.loads(read_body(request))
                private, public = key_pair(bucket)
                eph = bytes.fromhex(msg["ephemeral"])
                secret = box.open_(x25519.x25519(private, eph), eph, public, bytes.fromhex(msg["ciphertext"]),
                                   bytes.fromhex(msg["tag"]))
                bucket.set("vault/secret", sealing.seal(secret, sealing.Policy.SAME_CODE))
                respond(response_out, 200, b'{"stored": true}')
            elif op == "use":
                blob = bucket.get("vault/secret")
                if blob is None:
                    respond(response_out, 404, b'{"error": "no secret stored yet"}')
                    return
                secret = unseal(blob)
                mac = hmac.new(secret, q.get("msg", "").encode(), hashlib.sha256).hexdigest()
                respond(response_out, 200, json.dumps({"hmac": mac}).encode())
            else:
                respond(response_out, 404, b'{"error": "try /key, /secret or /use"}')
        except Refused as e:
            respond(response_out, 403, json.dumps({"error": str(e)}).encode())
        except (KeyError, ValueError) as e:
            respond(response_out, 400, json.dumps({"error": f"bad request: {e}"}).encode())
        except Err as e:
            respond(response_out, 500, json.dumps({"error": f"host error: {e.value!r}"}).encode())
