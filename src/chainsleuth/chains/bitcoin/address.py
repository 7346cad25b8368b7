"""Bitcoin address codecs: Base58Check (P2PKH, P2SH) and bech32/bech32m (segwit).

- Base58Check: version byte + payload + first 4 bytes of SHA-256d (the `base58` library).
- Segwit (BIP-173, BIP-350): witness v0 uses bech32 (checksum constant 1), v1+ uses bech32m
  (constant 0x2bc830a3). The codec is written out here (it is short) because the `bech32`
  package only knows the BIP-173 constant.

`validate` is the entry point for addresses typed by users: it tells a malformed string, a
bad checksum and another network's address apart, and returns the stored form (bech32
lower-cased, Base58 as given).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import base58
from Crypto.Hash import RIPEMD160

from chainsleuth.chains.bitcoin.network import NETWORKS, get
from chainsleuth.errors import AddressError

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
BECH32_CONST = 1
BECH32M_CONST = 0x2BC830A3


@dataclass(frozen=True)
class Decoded:
    """What an address pays to: `kind` is p2pkh, p2sh or witness (with its version)."""

    kind: str
    program: bytes  # hash160 for p2pkh/p2sh, the witness program for witness
    witness_version: int | None = None


def sha256d(data: bytes) -> bytes:
    """Double SHA-256, Bitcoin's hash for txids, block hashes and checksums."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256 (pycryptodome: hashlib's RIPEMD-160 depends on OpenSSL)."""
    return bytes(RIPEMD160.new(hashlib.sha256(data).digest()).digest())


def base58check_encode(version: int, payload: bytes) -> str:
    """Base58Check of one version byte followed by `payload`."""
    return str(base58.b58encode_check(bytes([version]) + payload).decode("ascii"))


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GENERATOR[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    """Regroup bits (BIP-173 reference); ValueError on invalid padding."""
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise ValueError("invalid padding")
    return out


def bech32_encode(hrp: str, data: list[int], const: int) -> str:
    """Encode 5-bit `data` under `hrp` with the bech32 (1) or bech32m constant."""
    values = _hrp_expand(hrp) + data
    poly = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ const
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def bech32_decode(text: str, where: str = "address") -> tuple[str, list[int], int]:
    """Split a bech32/bech32m string into (hrp, 5-bit data, checksum constant).

    Raises AddressError for a malformed string (length, case, characters, separator) or a
    checksum matching neither constant.
    """

    def bad(why: str) -> AddressError:
        return AddressError(f"{where}: {text!r} is not a valid bech32 address ({why})")

    if len(text) > 90:
        raise bad("longer than 90 characters")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise bad("character out of range")
    if text.lower() != text and text.upper() != text:
        raise bad("mixed case")
    lower = text.lower()
    pos = lower.rfind("1")
    if pos < 1 or pos + 7 > len(lower):
        raise bad("no separator or checksum too short")
    hrp, rest = lower[:pos], lower[pos + 1 :]
    try:
        data = [_CHARSET_REV[c] for c in rest]
    except KeyError as e:
        raise bad(f"character {e.args[0]!r} is not in the bech32 alphabet") from None
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (BECH32_CONST, BECH32M_CONST):
        raise AddressError(f"{where}: {text!r} fails its bech32/bech32m checksum")
    return hrp, data[:-6], const


def encode_segwit(hrp: str, version: int, program: bytes) -> str:
    """Segwit address of a witness program: bech32 for v0, bech32m for v1..16."""
    const = BECH32_CONST if version == 0 else BECH32M_CONST
    return bech32_encode(hrp, [version, *_convertbits(program, 8, 5, True)], const)


def _networks_with(match: str, value: object) -> list[str]:
    return [n.name for n in NETWORKS.values() if getattr(n, match) == value]


def decode(address: str, network: str, where: str = "address") -> Decoded:
    """Decode an address of `network`; AddressError says malformed, checksum or network."""
    params = get(network)
    text = address.strip()
    if not text:
        raise AddressError(f"{where}: empty address")
    sep = text.lower().rfind("1")
    hrp_guess = text.lower()[:sep] if sep > 0 else ""
    if hrp_guess in {n.hrp for n in NETWORKS.values()}:
        return _decode_segwit(text, params.hrp, network, where)
    return _decode_base58(text, params.p2pkh_version, params.p2sh_version, network, where)


def _decode_segwit(text: str, hrp: str, network: str, where: str) -> Decoded:
    got_hrp, data, const = bech32_decode(text, where)
    if got_hrp != hrp:
        others = "/".join(_networks_with("hrp", got_hrp))
        raise AddressError(f"{where}: {text!r} is a {others} address, not {network}")
    if not data or data[0] > 16:
        raise AddressError(f"{where}: {text!r} has an invalid witness version")
    version = data[0]
    try:
        program = bytes(_convertbits(data[1:], 5, 8, False))
    except ValueError:
        raise AddressError(f"{where}: {text!r} has invalid bech32 padding") from None
    if not 2 <= len(program) <= 40 or (version == 0 and len(program) not in (20, 32)):
        raise AddressError(
            f"{where}: {text!r} has a witness v{version} program of invalid length {len(program)}"
        )
    want = BECH32_CONST if version == 0 else BECH32M_CONST
    if const != want:
        need, got = ("bech32", "bech32m") if version == 0 else ("bech32m", "bech32")
        raise AddressError(
            f"{where}: {text!r} fails its checksum (witness v{version} needs {need}, got {got})"
        )
    return Decoded("witness", program, version)


def _decode_base58(text: str, p2pkh: int, p2sh: int, network: str, where: str) -> Decoded:
    try:
        raw = base58.b58decode(text)
    except ValueError:
        raise AddressError(
            f"{where}: {text!r} is not a Bitcoin address (not Base58 or bech32)"
        ) from None
    if len(raw) != 25:
        raise AddressError(
            f"{where}: {text!r} is not a Bitcoin address ({len(raw)} bytes, want 25)"
        )
    if sha256d(raw[:21])[:4] != raw[21:]:
        raise AddressError(f"{where}: {text!r} fails its Base58Check checksum")
    version, payload = raw[0], raw[1:21]
    if version == p2pkh:
        return Decoded("p2pkh", payload)
    if version == p2sh:
        return Decoded("p2sh", payload)
    others = sorted(
        set(_networks_with("p2pkh_version", version)) | set(_networks_with("p2sh_version", version))
    )
    if others:
        raise AddressError(f"{where}: {text!r} is a {'/'.join(others)} address, not {network}")
    raise AddressError(f"{where}: {text!r} has unknown version byte {version:#04x}")


def validate(address: str, network: str, where: str = "address") -> str:
    """Check a user-given address for `network` and return its stored form.

    Stored form: Base58 as given, bech32 lower-case (its canonical case). Raises
    AddressError naming `where` and saying malformed, bad checksum or wrong network.
    """
    text = address.strip()
    decoded = decode(text, network, where)
    return text.lower() if decoded.kind == "witness" else text


def encode(decoded: Decoded, network: str) -> str:
    """The address string of a decoded destination on `network` (inverse of `decode`)."""
    params = get(network)
    if decoded.kind == "p2pkh":
        return base58check_encode(params.p2pkh_version, decoded.program)
    if decoded.kind == "p2sh":
        return base58check_encode(params.p2sh_version, decoded.program)
    assert decoded.witness_version is not None
    return encode_segwit(params.hrp, decoded.witness_version, decoded.program)


def to_script(address: str, network: str, where: str = "address") -> bytes:
    """The scriptPubKey an address pays to (for comparing a transaction's outputs)."""
    d = decode(address, network, where)
    if d.kind == "p2pkh":
        return b"\x76\xa9\x14" + d.program + b"\x88\xac"
    if d.kind == "p2sh":
        return b"\xa9\x14" + d.program + b"\x87"
    assert d.witness_version is not None
    op = 0 if d.witness_version == 0 else 0x50 + d.witness_version
    return bytes([op, len(d.program)]) + d.program
