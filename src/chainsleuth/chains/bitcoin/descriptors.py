"""Output descriptors (BIP-380 family), enough to prove which outputs are the wallet's own.

Supported: `addr(ADDR)`, `raw(HEX)`, `pkh(KEY)`, `wpkh(KEY)`, `sh(wpkh(KEY))`, `tr(KEY)`
(key path only, BIP-386), `wsh(multi|sortedmulti(...))` and `sh(wsh(...))` of those.
KEY is a hex public key (x-only for `tr`) or an extended public key (`xpub…`/`tpub…`)
with an optional `[fingerprint/origin]` prefix and a derivation suffix of unhardened steps
ending in `*` (ranged) or `<a;b>` (BIP-389 multipath, e.g. `<0;1>` for receive/change).
Hardened steps after an xpub cannot be derived from public data and are an error. The
`#checksum` suffix (BIP-380) is verified when present.

`scripts(descriptor, network, range_end)` gives every scriptPubKey the descriptor stands for
(indices 0 … range_end-1 for ranged ones), derived with BIP-32 public derivation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import base58
from coincurve import PublicKey

from chainsleuth.chains.bitcoin import address as btc_address
from chainsleuth.errors import ParseError

_INPUT_CHARSET = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)
_XPUB_VERSIONS = {bytes.fromhex("0488b21e"), bytes.fromhex("043587cf")}  # xpub, tpub
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HARDENED = 0x80000000


def _polymod(symbols: list[int]) -> int:
    chk = 1
    for value in symbols:
        top = chk >> 35
        chk = (chk & 0x7FFFFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def checksum(body: str) -> str:
    """The 8-character BIP-380 checksum of a descriptor (without `#`)."""
    symbols: list[int] = []
    groups: list[int] = []
    for ch in body:
        value = _INPUT_CHARSET.find(ch)
        if value < 0:
            raise ParseError(f"descriptor: character {ch!r} is not allowed")
        symbols.append(value & 31)
        groups.append(value >> 5)
        if len(groups) == 3:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        symbols.append(groups[0])
    elif len(groups) == 2:
        symbols.append(groups[0] * 3 + groups[1])
    value = _polymod(symbols + [0] * 8) ^ 1
    return "".join(_CHECKSUM_CHARSET[(value >> (5 * (7 - i))) & 31] for i in range(8))


def strip_checksum(descriptor: str) -> str:
    """The descriptor without its `#checksum`, which must be right when present."""
    text = descriptor.strip()
    if "#" not in text:
        return text
    body, given = text.rsplit("#", 1)
    expected = checksum(body)
    if given != expected:
        raise ParseError(f"descriptor {body[:40]}…: checksum #{given} should be #{expected}")
    return body


@dataclass(frozen=True)
class ExtendedKey:
    """A BIP-32 extended public key: compressed point and chain code."""

    key: bytes
    chain_code: bytes

    def child(self, index: int) -> ExtendedKey:
        """CKDpub: the unhardened child `index`."""
        if index >= HARDENED:
            raise ParseError("descriptor: hardened derivation needs a private key")
        digest = hmac.new(
            self.chain_code, self.key + index.to_bytes(4, "big"), hashlib.sha512
        ).digest()
        tweak, chain = digest[:32], digest[32:]
        if int.from_bytes(tweak, "big") >= _SECP256K1_ORDER:
            raise ParseError(f"descriptor: BIP-32 child {index} is invalid (IL >= n)")
        point = PublicKey(self.key).add(tweak)
        return ExtendedKey(point.format(compressed=True), chain)


def parse_xpub(text: str) -> ExtendedKey:
    """Decode an `xpub…`/`tpub…` string (Base58Check, 78 bytes)."""
    try:
        raw = base58.b58decode_check(text)
    except ValueError:
        raise ParseError(f"descriptor: {text[:12]}… is not a valid extended key") from None
    if len(raw) != 78 or raw[:4] not in _XPUB_VERSIONS:
        raise ParseError(f"descriptor: {text[:12]}… is not an xpub/tpub (private keys refused)")
    key = raw[45:78]
    if key[0] not in (2, 3):
        raise ParseError(f"descriptor: {text[:12]}… holds no compressed public key")
    return ExtendedKey(key, raw[13:45])


@dataclass(frozen=True)
class KeyExpr:
    """A key expression: a fixed key, or an xpub with a path of unhardened steps where
    None marks the `*` wildcard and a tuple the `<a;b>` multipath alternatives."""

    fixed: bytes | None
    xpub: ExtendedKey | None
    path: tuple[int | tuple[int, ...] | None, ...]

    def keys(self, range_end: int) -> Iterator[bytes]:
        """Every public key the expression stands for."""
        if self.fixed is not None:
            yield self.fixed
            return
        assert self.xpub is not None
        yield from _derive(self.xpub, self.path, range_end)


def _derive(
    node: ExtendedKey, path: tuple[int | tuple[int, ...] | None, ...], range_end: int
) -> Iterator[bytes]:
    if not path:
        yield node.key
        return
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        yield from _derive(node.child(step), rest, range_end)
        return
    for index in step if isinstance(step, tuple) else range(range_end):
        yield from _derive(node.child(index), rest, range_end)


def _parse_key(text: str, *, x_only: bool) -> KeyExpr:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError(f"descriptor: key origin {text[:20]}… has no closing ]")
        text = text[end + 1 :]
    head, *steps = text.split("/")
    if all(c in "0123456789abcdefABCDEF" for c in head) and not steps:
        key = bytes.fromhex(head) if len(head) % 2 == 0 else b""
        if x_only and len(key) == 32:
            return KeyExpr(b"\x02" + key, None, ())
        if len(key) == 33 and key[0] in (2, 3):
            return KeyExpr(key, None, ())
        raise ParseError(f"descriptor: {head[:20]}… is not a valid public key")
    xpub = parse_xpub(head)
    path: list[int | tuple[int, ...] | None] = []
    for step in steps:
        path.append(_parse_step(step))
    if path.count(None) > 1 or sum(isinstance(s, tuple) for s in path) > 1:
        raise ParseError("descriptor: more than one * or <a;b> in a key path")
    if path.count(None) and path[-1] is not None:
        raise ParseError("descriptor: * must be the last step of a key path")
    return KeyExpr(None, xpub, tuple(path))


def _parse_step(step: str) -> int | tuple[int, ...] | None:
    if step == "*":
        return None
    if step.endswith(("'", "h", "H")) or step == "*'":
        raise ParseError(f"descriptor: hardened step {step} after an xpub cannot be derived")
    if step.startswith("<") and step.endswith(">"):
        return tuple(_index(s) for s in step[1:-1].split(";"))
    return _index(step)


def _index(text: str) -> int:
    if not text.isdigit() or int(text) >= HARDENED:
        raise ParseError(f"descriptor: {text!r} is not a derivation index")
    return int(text)


def _split_args(body: str) -> list[str]:
    """Top-level comma-separated arguments (commas inside brackets do not split)."""
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(body):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts


def _call(text: str) -> tuple[str, str]:
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        raise ParseError(f"descriptor: {text[:40]!r} is not FUNCTION(...)")
    return text[:open_at], text[open_at + 1 : -1]


def scripts(descriptor: str, network: str, range_end: int = 1000) -> set[bytes]:
    """Every scriptPubKey of a descriptor (ranged ones over indices 0 … range_end-1)."""
    name, body = _call(strip_checksum(descriptor))
    if name == "addr":
        return {btc_address.to_script(body, network, "descriptor addr()")}
    if name == "raw":
        try:
            return {bytes.fromhex(body)}
        except ValueError:
            raise ParseError("descriptor: raw() holds no hex") from None
    if name == "pkh":
        return {_p2pkh(k) for k in _parse_key(body, x_only=False).keys(range_end)}
    if name == "wpkh":
        return {_p2wpkh(k) for k in _parse_key(body, x_only=False).keys(range_end)}
    if name == "tr":
        if "," in body:
            raise ParseError("descriptor: tr() with script trees is not supported")
        return {_p2tr(k) for k in _parse_key(body, x_only=True).keys(range_end)}
    if name == "wsh":
        return {_p2wsh(s) for s in _multisig_scripts(body, range_end)}
    if name == "sh":
        inner, inner_body = _call(body)
        if inner == "wpkh":
            keys = _parse_key(inner_body, x_only=False).keys(range_end)
            return {_p2sh(_p2wpkh(k)) for k in keys}
        if inner == "wsh":
            return {_p2sh(_p2wsh(s)) for s in _multisig_scripts(inner_body, range_end)}
        raise ParseError(f"descriptor: sh({inner}(...)) is not supported")
    raise ParseError(f"descriptor: function {name}() is not supported")


def _multisig_scripts(text: str, range_end: int) -> Iterator[bytes]:
    """Witness scripts of `multi(k,KEY,…)`/`sortedmulti(…)`, keys advancing in step."""
    name, body = _call(text)
    if name not in ("multi", "sortedmulti"):
        raise ParseError(f"descriptor: wsh({name}(...)) is not supported")
    threshold, *key_texts = _split_args(body)
    if not threshold.isdigit() or not 1 <= int(threshold) <= len(key_texts) <= 20:
        raise ParseError(f"descriptor: {name}() threshold {threshold} of {len(key_texts)} keys")
    columns = [list(_parse_key(k, x_only=False).keys(range_end)) for k in key_texts]
    rows = max(len(c) for c in columns)
    if any(len(c) not in (1, rows) for c in columns):
        raise ParseError(f"descriptor: {name}() keys derive different numbers of keys")
    for i in range(rows):
        keys = [c[i] if len(c) > 1 else c[0] for c in columns]
        if name == "sortedmulti":
            keys.sort()
        body_ops = b"".join(b"\x21" + k for k in keys)
        yield bytes([0x50 + int(threshold)]) + body_ops + bytes([0x50 + len(keys), 0xAE])


def _hash160(data: bytes) -> bytes:
    return btc_address.hash160(data)


def _p2pkh(key: bytes) -> bytes:
    return b"\x76\xa9\x14" + _hash160(key) + b"\x88\xac"


def _p2wpkh(key: bytes) -> bytes:
    return b"\x00\x14" + _hash160(key)


def _p2sh(script: bytes) -> bytes:
    return b"\xa9\x14" + _hash160(script) + b"\x87"


def _p2wsh(script: bytes) -> bytes:
    return b"\x00\x20" + hashlib.sha256(script).digest()


def _p2tr(internal: bytes) -> bytes:
    """BIP-341/386 key-path output: Q = P + H_TapTweak(P)·G, P with even y."""
    x_only = internal[1:]
    tag = hashlib.sha256(b"TapTweak").digest()
    tweak = hashlib.sha256(tag + tag + x_only).digest()
    if int.from_bytes(tweak, "big") >= _SECP256K1_ORDER:
        raise ParseError("descriptor: taproot tweak out of range")
    output = PublicKey(b"\x02" + x_only).add(tweak)
    return b"\x51\x20" + output.format(compressed=True)[1:]
