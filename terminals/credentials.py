"""Device credentials: the secret issued at activation, its stored key, and the auth proof.

The platform never stores a device secret, only StoredKey = SHA-256(ClientKey) with
ClientKey = HMAC-SHA256(secret, "Client Key") (the SCRAM construction, RFC 5802). To authenticate,
the device answers a server-issued nonce with

    proof = ClientKey XOR HMAC-SHA256(StoredKey, "shouyin-terminal-v1|<serial>|<nonce>")

and the server recovers ClientKey from the proof and checks its hash. A stolen database row does
not let anyone sign in as the device, and a captured proof is bound to a nonce that is never
issued again. Activation codes are stored as keyed hashes too.
"""

import hashlib
import hmac
import secrets

from django.conf import settings

AUTH_CONTEXT = "shouyin-terminal-v1"
# Crockford base32 without I, L, O, U: nothing a person can misread from a label or a phone.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_device_secret() -> str:
    return secrets.token_urlsafe(32)


def client_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"Client Key", hashlib.sha256).digest()


def stored_key_for(secret: str) -> str:
    return hashlib.sha256(client_key(secret)).hexdigest()


def stored_key_from_client_key(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


def auth_message(serial: str, nonce: str) -> bytes:
    return f"{AUTH_CONTEXT}|{serial}|{nonce}".encode()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def make_proof(*, secret: str, serial: str, nonce: str) -> str:
    """Compute the auth proof as a device does (used by the simulator and tests)."""
    key = client_key(secret)
    signature = hmac.new(
        bytes.fromhex(stored_key_from_client_key(key)), auth_message(serial, nonce), hashlib.sha256
    ).digest()
    return _xor(key, signature).hex()


def verify_proof(*, stored_key: str, serial: str, nonce: str, proof: str) -> bool:
    try:
        proof_bytes = bytes.fromhex(proof)
        stored = bytes.fromhex(stored_key)
    except ValueError:
        return False
    if len(proof_bytes) != 32:
        return False
    signature = hmac.new(stored, auth_message(serial, nonce), hashlib.sha256).digest()
    recovered = hashlib.sha256(_xor(proof_bytes, signature)).digest()
    return hmac.compare_digest(recovered, stored)


def new_nonce() -> str:
    return secrets.token_hex(16)


def new_activation_code() -> str:
    """Eight characters shown as XXXX-XXXX: about 40 bits, tried at most a few times."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_code(code: str) -> str:
    cleaned = code.upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    return cleaned


def hash_activation_code(code: str) -> str:
    key = f"terminals.activation:{settings.SECRET_KEY}".encode()
    return hmac.new(key, normalize_code(code).encode(), hashlib.sha256).hexdigest()
