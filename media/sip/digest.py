"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616 hashes, RFC 8760 for SIP)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

_log = logging.getLogger(__name__)

# RFC 8760 §2: MD5, SHA-256 and SHA-512/256 (and their -sess variants).
_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


class DigestError(ValueError):
    """A challenge this client cannot answer."""


@dataclass(frozen=True)
class Challenge:
    """A WWW-Authenticate / Proxy-Authenticate Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge:
    """Parse a Digest challenge header value; raises DigestError."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"unsupported auth scheme {scheme[:20]!r}")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        raw = match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
    if "realm" not in params or "nonce" not in params:
        raise DigestError("challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    base = algorithm.removesuffix("-SESS")
    if base not in _HASHES or _HASHES[base] not in hashlib.algorithms_available:
        raise DigestError(f"unsupported digest algorithm {algorithm[:20]!r}")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise DigestError("only qop=auth is supported")
    return Challenge(params["realm"], params["nonce"], algorithm, qop, params.get("opaque"),
                     params.get("stale", "").lower() == "true")


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm.removesuffix("-SESS")], text.encode("utf-8"),
                       usedforsecurity=False).hexdigest()


def digest_response(challenge: Challenge, *, username: str, password: str, method: str,
                    uri: str, cnonce: str = "", nc: int = 1) -> str:
    """The request-digest (RFC 2617 §3.2.2.1) for one request."""
    alg = challenge.algorithm
    ha1 = _h(alg, f"{username}:{challenge.realm}:{password}")
    if alg.endswith("-SESS"):
        ha1 = _h(alg, f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = _h(alg, f"{method}:{uri}")
    if "auth" in challenge.qop:
        return _h(alg, f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
    return _h(alg, f"{ha1}:{challenge.nonce}:{ha2}")


def authorization(challenge: Challenge, *, username: str, password: str, method: str,
                  uri: str, cnonce: str, nc: int = 1) -> str:
    """An Authorization / Proxy-Authorization header value answering the challenge."""
    response = digest_response(challenge, username=username, password=password, method=method,
                               uri=uri, cnonce=cnonce, nc=nc)
    parts = [f'username="{username}"', f'realm="{challenge.realm}"',
             f'nonce="{challenge.nonce}"', f'uri="{uri}"', f'response="{response}"',
             f"algorithm={challenge.algorithm}"]
    if "auth" in challenge.qop:
        parts += [f'cnonce="{cnonce}"', f"nc={nc:08x}", "qop=auth"]
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(parts)
