"""scriptPubKey classification and the address each output is credited to.

Type names and address conventions (CONTRIBUTING.md), patterns as Bitcoin Core's `Solver`
(`src/script/solver.cpp`):

    p2pk        <33|65-byte key> OP_CHECKSIG        address: P2PKH of the key
    p2pkh       OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG
    p2sh        OP_HASH160 <20> OP_EQUAL
    p2wpkh      OP_0 <20>            p2wsh  OP_0 <32>          (bech32)
    p2tr        OP_1 <32>                                       (bech32m)
    witness_unknown  OP_1..OP_16 <2..40 bytes> other than p2tr  (bech32m)
    multisig    OP_m <keys…> OP_n OP_CHECKMULTISIG (bare)   address: nonstandard…
    nulldata    OP_RETURN followed by pushes only           address: None
    nonstandard anything else (also v0 programs of other lengths, bad pushes)

Outputs without a standard address get bitcoin-etl's `nonstandard` + the first 40 hex
digits of SHA-256(script) (blockchain-etl/bitcoin-etl `script_hex_to_non_standard_address`).
"""

from __future__ import annotations

import hashlib

from chainsleuth.chains.bitcoin.address import base58check_encode, encode_segwit, hash160
from chainsleuth.chains.bitcoin.network import get

OP_0 = 0x00
OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4 = 0x4C, 0x4D, 0x4E
OP_1NEGATE = 0x4F
OP_1, OP_16 = 0x51, 0x60
OP_RETURN = 0x6A
OP_DUP, OP_HASH160 = 0x76, 0xA9
OP_EQUAL, OP_EQUALVERIFY = 0x87, 0x88
OP_CHECKSIG, OP_CHECKMULTISIG = 0xAC, 0xAE

SCRIPT_TYPES = (
    "p2pk",
    "p2pkh",
    "p2sh",
    "p2wpkh",
    "p2wsh",
    "p2tr",
    "multisig",
    "nulldata",
    "witness_unknown",
    "nonstandard",
)


def nonstandard_address(script: bytes) -> str:
    """bitcoin-etl's address for scripts without one: 'nonstandard' + sha256 hex[:40]."""
    return "nonstandard" + hashlib.sha256(script).hexdigest()[:40]


def _pubkey_size_ok(key: bytes) -> bool:
    """Core's CPubKey::ValidSize: the first byte fixes the length (33 or 65)."""
    if not key:
        return False
    if key[0] in (2, 3):
        return len(key) == 33
    if key[0] in (4, 6, 7):
        return len(key) == 65
    return False


def iter_ops(script: bytes) -> list[tuple[int, bytes | None]] | None:
    """The (opcode, pushed data or None) sequence, or None if a push runs past the end."""
    ops: list[tuple[int, bytes | None]] = []
    i, n = 0, len(script)
    while i < n:
        op = script[i]
        i += 1
        if op <= OP_PUSHDATA4:
            if op < OP_PUSHDATA1:
                size = op
            else:
                width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[op]
                if i + width > n:
                    return None
                size = int.from_bytes(script[i : i + width], "little")
                i += width
            if i + size > n:
                return None
            ops.append((op, script[i : i + size]))
            i += size
        else:
            ops.append((op, None))
    return ops


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """(version, program) if the script is a witness program (BIP-141), else None."""
    n = len(script)
    if not 4 <= n <= 42 or script[1] != n - 2:
        return None
    if script[0] == OP_0:
        return 0, script[2:]
    if OP_1 <= script[0] <= OP_16:
        return script[0] - OP_1 + 1, script[2:]
    return None


def _is_multisig(ops: list[tuple[int, bytes | None]]) -> bool:
    if len(ops) < 4 or ops[-1] != (OP_CHECKMULTISIG, None):
        return False
    m_op, n_op = ops[0][0], ops[-2][0]
    if not (OP_1 <= m_op <= OP_16 and OP_1 <= n_op <= OP_16):
        return False
    keys = ops[1:-2]
    m, n = m_op - OP_1 + 1, n_op - OP_1 + 1
    return n == len(keys) and m <= n and all(d is not None and _pubkey_size_ok(d) for _, d in keys)


def classify(script: bytes, network: str) -> tuple[str, str | None]:
    """(script_type, address) of a scriptPubKey on `network` (see the module docstring).

    Never raises on script content: undecodable scripts are `nonstandard`.
    """
    params = get(network)
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return "p2pkh", base58check_encode(params.p2pkh_version, script[3:23])
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == OP_EQUAL:
        return "p2sh", base58check_encode(params.p2sh_version, script[2:22])
    wp = witness_program(script)
    if wp is not None:
        version, program = wp
        if version == 0:
            if len(program) == 20:
                return "p2wpkh", encode_segwit(params.hrp, 0, program)
            if len(program) == 32:
                return "p2wsh", encode_segwit(params.hrp, 0, program)
            return "nonstandard", nonstandard_address(script)
        kind = "p2tr" if version == 1 and len(program) == 32 else "witness_unknown"
        return kind, encode_segwit(params.hrp, version, program)
    if n in (35, 67) and script[0] == n - 2 and script[-1] == OP_CHECKSIG:
        key = script[1:-1]
        if _pubkey_size_ok(key):
            return "p2pk", base58check_encode(params.p2pkh_version, hash160(key))
    ops = iter_ops(script)
    if ops is not None:
        if n and script[0] == OP_RETURN and all(op <= OP_16 for op, _ in ops[1:]):
            return "nulldata", None
        if _is_multisig(ops):
            return "multisig", nonstandard_address(script)
    return "nonstandard", nonstandard_address(script)
