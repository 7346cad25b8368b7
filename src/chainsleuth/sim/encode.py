"""Vectorised identifiers for simulated chains: hashes, hex strings and bech32 addresses.

Every simulated object (transaction, block, address) is an integer id; its on-chain name is
derived from the id and the run's seed by a bijective 64-bit mixer (SplitMix64's finaliser),
so names are deterministic, look random and never collide. Everything here works on whole
NumPy arrays at once and returns Arrow string arrays without a per-row Python loop.

Addresses are real P2WPKH encodings (BIP-173 bech32, witness version 0, 20-byte program):
they decode and checksum like any mainnet address; nobody holds their keys.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Two ASCII hex digits per byte value, as one 2-byte item (a single gather per byte).
_HEX2 = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1).view("V2")[:, 0]
_CHARSET = np.frombuffer(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", dtype=np.uint8)
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

# Domains keep ids of different object kinds apart under the same seed.
DOMAIN_TX = 1
DOMAIN_BLOCK = 2
DOMAIN_ADDRESS = 3
DOMAIN_MERKLE = 4
DOMAIN_NONCE = 5


def mix64(x: U64) -> U64:
    """SplitMix64's finaliser: a bijection on uint64 (so distinct inputs stay distinct)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_words(ids: I64, seed: int, domain: int, words: int) -> U64:
    """`words` pseudo-random uint64 per id, shape (len(ids), words); column 0 is unique per id."""
    salt = mix64(np.array([(seed * 16 + domain) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    base = ids.astype(np.uint64) * np.uint64(8)
    cols = [mix64((base + np.uint64(j)) ^ salt) for j in range(words)]
    return np.stack(cols, axis=1)


def _bytes_be(words: U64) -> NDArray[np.uint8]:
    """Big-endian bytes of each row of uint64 words, shape (n, 8 * words)."""
    return words.astype(">u8").view(np.uint8).reshape(len(words), 8 * words.shape[1])


def _hex_matrix(raw: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """ASCII hex digits of each byte row, shape (n, 2 * width)."""
    return _HEX2[raw].view(np.uint8).reshape(raw.shape[0], 2 * raw.shape[1])


def strings(matrix: NDArray[np.uint8]) -> pa.Array:
    """An Arrow string array whose i-th value is the ASCII bytes of row i (fixed width)."""
    n, width = matrix.shape
    data = np.ascontiguousarray(matrix).reshape(-1)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def hex_ids(ids: I64, seed: int, domain: int, *, zero_prefix: int = 0) -> pa.Array:
    """64-hex-digit names (txids, block hashes) of `ids`; `zero_prefix` leading '0' digits."""
    digits = _hex_matrix(_bytes_be(hash_words(ids, seed, domain, 4)))
    if zero_prefix:
        # Shift right so the unique first word stays whole inside the name.
        digits = np.concatenate(
            [np.full((len(ids), zero_prefix), ord("0"), np.uint8), digits[:, : 64 - zero_prefix]],
            axis=1,
        )
    return strings(digits)


def _polymod_step(acc: NDArray[np.uint32], symbol: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """One step of BIP-173's checksum polymod, on an array of states."""
    top = acc >> np.uint32(25)
    acc = ((acc & np.uint32(0x1FFFFFF)) << np.uint32(5)) ^ symbol
    for i, g in enumerate(_GEN):
        acc ^= np.where((top >> np.uint32(i)) & np.uint32(1), np.uint32(g), np.uint32(0))
    return acc


def _triple_tables() -> tuple[NDArray[np.uint32], NDArray[np.void]]:
    """Tables for three symbols (15 bits) at a time: polymod feedback and the 3 characters.

    The polymod is linear over GF(2), so three steps from state `s` equal
    `((s & 0x7FFF) << 15) ^ symbols ^ FEEDBACK[s >> 15]`.
    """
    x = np.arange(1 << 15, dtype=np.uint32)
    acc = x << np.uint32(15)
    zero = np.zeros_like(x)
    for _ in range(3):
        acc = _polymod_step(acc, zero)
    chars = np.stack([_CHARSET[x >> 10], _CHARSET[(x >> 5) & 31], _CHARSET[x & 31]], axis=1)
    return acc, np.ascontiguousarray(chars).view("V3")[:, 0]


_FEEDBACK, _CHARS3 = _triple_tables()


def _bits(words: U64, start: int, length: int) -> U64:
    """`length` bits at bit offset `start` of each row of big-endian uint64 words."""
    i, off = divmod(start, 64)
    end = off + length
    mask = np.uint64((1 << length) - 1)
    if end <= 64:
        return (words[:, i] >> np.uint64(64 - end)) & mask
    high = words[:, i] & np.uint64((1 << (64 - off)) - 1)
    return ((high << np.uint64(end - 64)) | (words[:, i + 1] >> np.uint64(128 - end))) & mask


def p2wpkh(
    address_ids: I64, seed: int, hrp: str = "bc"
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(bech32 P2WPKH address, its 20-byte program) of each address id, as byte matrices.

    The program is the first 160 bits of the id's hash. The data part (witness version 0,
    then the program in 5-bit groups) is handled three symbols (15 bits) at a time.
    """
    words = hash_words(address_ids, seed, DOMAIN_ADDRESS, 3)
    n = len(address_ids)
    # Data symbols: version 0 + 32 groups = 11 triples; triple k covers program bits
    # [15k - 5, 15k + 10) (the first one starts with the version symbol 0).
    triples = [_bits(words, 0, 10)] + [_bits(words, 15 * k - 5, 15) for k in range(1, 11)]
    chk = np.full(n, _hrp_state(hrp), dtype=np.uint32)
    mask = np.uint32(0x7FFF)
    for t in triples:
        chk = ((chk & mask) << np.uint32(15)) ^ t.astype(np.uint32) ^ _FEEDBACK[chk >> 15]
    for _ in range(2):  # six zero symbols
        chk = ((chk & mask) << np.uint32(15)) ^ _FEEDBACK[chk >> 15]
    chk ^= np.uint32(1)
    symbols = np.stack([t.astype(np.uint32) for t in triples] + [chk >> 15, chk & mask], axis=1)
    prefix = np.frombuffer((hrp + "1").encode("ascii"), dtype=np.uint8)
    text = np.concatenate(
        [np.broadcast_to(prefix, (n, len(prefix))), _CHARS3[symbols].view(np.uint8).reshape(n, 39)],
        axis=1,
    )
    return text, _bytes_be(words)[:, :20]


def hex_strings(raw: NDArray[np.uint8]) -> pa.Array:
    """Lowercase hex of each byte row (e.g. a witness program for script_hex)."""
    return strings(_hex_matrix(raw))


def _hrp_state(hrp: str) -> int:
    """Polymod state after the expanded human-readable part (same for every address)."""
    acc = np.array([1], dtype=np.uint32)
    for c in [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]:
        acc = _polymod_step(acc, np.array([c], dtype=np.uint32))
    return int(acc[0])
