"""Partially Signed Bitcoin Transactions: BIP-174 (version 0) and BIP-370 (version 2).

`decode(data)` reads the binary form (`psbt\\xff` magic; base64 is decoded by the caller)
into a `Psbt` that keeps every key-value pair in order, so `encode()` gives back the same
bytes. Validation follows the specifications: each known key type has its key-data length
and value size checked, duplicate keys are rejected, version 0 needs the unsigned
transaction (with empty scriptSigs and witnesses, non-witness serialisation) and none of the
version-2-only fields, version 2 needs its per-input/per-output fields and none of the
version-0-only ones. `transaction()` gives the unsigned transaction of either version.

Also a minimal transaction codec (`Tx`) for unsigned raw transactions and for the
previous transactions a PSBT carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.chains.bitcoin.address import sha256d
from chainsleuth.chains.bitcoin.serial import Reader, compact_size
from chainsleuth.errors import ParseError

MAGIC = b"psbt\xff"

# Global, input and output key types (BIP-174, BIP-370, BIP-371).
G_UNSIGNED_TX, G_XPUB, G_TX_VERSION, G_FALLBACK_LOCKTIME = 0x00, 0x01, 0x02, 0x03
G_INPUT_COUNT, G_OUTPUT_COUNT, G_TX_MODIFIABLE, G_VERSION = 0x04, 0x05, 0x06, 0xFB
I_NON_WITNESS_UTXO, I_WITNESS_UTXO, I_FINAL_SCRIPTSIG, I_FINAL_SCRIPTWITNESS = 0, 1, 7, 8
I_PREVIOUS_TXID, I_OUTPUT_INDEX, I_SEQUENCE = 0x0E, 0x0F, 0x10
I_REQUIRED_TIME_LOCKTIME, I_REQUIRED_HEIGHT_LOCKTIME = 0x11, 0x12
O_AMOUNT, O_SCRIPT = 0x03, 0x04
PROPRIETARY = 0xFC

_PUBKEY = (33, 65)
# key type -> (allowed key-data lengths or None for any, fixed value sizes or None for any)
_GLOBAL_RULES: dict[int, tuple[tuple[int, ...] | None, tuple[int, ...] | None]] = {
    G_UNSIGNED_TX: ((0,), None),
    G_XPUB: ((78,), None),
    G_TX_VERSION: ((0,), (4,)),
    G_FALLBACK_LOCKTIME: ((0,), (4,)),
    G_INPUT_COUNT: ((0,), None),
    G_OUTPUT_COUNT: ((0,), None),
    G_TX_MODIFIABLE: ((0,), (1,)),
    G_VERSION: ((0,), (4,)),
}
_INPUT_RULES: dict[int, tuple[tuple[int, ...] | None, tuple[int, ...] | None]] = {
    I_NON_WITNESS_UTXO: ((0,), None),
    I_WITNESS_UTXO: ((0,), None),
    0x02: (_PUBKEY, None),  # partial signature
    0x03: ((0,), (4,)),  # sighash type
    0x04: ((0,), None),  # redeem script
    0x05: ((0,), None),  # witness script
    0x06: (_PUBKEY, None),  # BIP-32 derivation
    I_FINAL_SCRIPTSIG: ((0,), None),
    I_FINAL_SCRIPTWITNESS: ((0,), None),
    0x09: ((20,), None),  # RIPEMD-160 preimage
    0x0A: ((32,), None),  # SHA-256 preimage
    0x0B: ((20,), None),  # HASH160 preimage
    0x0C: ((32,), None),  # HASH256 preimage
    I_PREVIOUS_TXID: ((0,), (32,)),
    I_OUTPUT_INDEX: ((0,), (4,)),
    I_SEQUENCE: ((0,), (4,)),
    I_REQUIRED_TIME_LOCKTIME: ((0,), (4,)),
    I_REQUIRED_HEIGHT_LOCKTIME: ((0,), (4,)),
    0x13: ((0,), (64, 65)),  # taproot key-path signature
    0x14: ((64,), (64, 65)),  # taproot script-path signature
    0x16: ((32,), None),  # taproot BIP-32 derivation
    0x17: ((0,), (32,)),  # taproot internal key
    0x18: ((0,), (32,)),  # taproot merkle root
}
_OUTPUT_RULES: dict[int, tuple[tuple[int, ...] | None, tuple[int, ...] | None]] = {
    0x00: ((0,), None),  # redeem script
    0x01: ((0,), None),  # witness script
    0x02: (_PUBKEY, None),  # BIP-32 derivation
    O_AMOUNT: ((0,), (8,)),
    O_SCRIPT: ((0,), None),
    0x05: ((0,), (32,)),  # taproot internal key
    0x06: ((0,), None),  # taproot tree
    0x07: ((32,), None),  # taproot BIP-32 derivation
}
_V2_ONLY_GLOBAL = {
    G_TX_VERSION,
    G_FALLBACK_LOCKTIME,
    G_INPUT_COUNT,
    G_OUTPUT_COUNT,
    G_TX_MODIFIABLE,
}
_V2_ONLY_INPUT = {
    I_PREVIOUS_TXID,
    I_OUTPUT_INDEX,
    I_SEQUENCE,
    I_REQUIRED_TIME_LOCKTIME,
    I_REQUIRED_HEIGHT_LOCKTIME,
}
_V2_ONLY_OUTPUT = {O_AMOUNT, O_SCRIPT}


@dataclass(frozen=True)
class TxIn:
    """A transaction input: the outpoint (txid in display order), scriptSig, sequence."""

    txid: str
    vout: int
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class TxOut:
    """A transaction output: amount in satoshi and the scriptPubKey."""

    amount: int
    script: bytes


@dataclass(frozen=True)
class Tx:
    """A Bitcoin transaction; `segwit` records whether it was serialised with witnesses."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    segwit: bool = False

    def encode(self, *, witness: bool | None = None) -> bytes:
        """Serialise (with witnesses when the tx has the segwit form, unless told)."""
        with_witness = self.segwit if witness is None else witness
        parts = [self.version.to_bytes(4, "little")]
        if with_witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        for i in self.inputs:
            parts += [
                bytes.fromhex(i.txid)[::-1],
                i.vout.to_bytes(4, "little"),
                compact_size(len(i.script_sig)),
                i.script_sig,
                i.sequence.to_bytes(4, "little"),
            ]
        parts.append(compact_size(len(self.outputs)))
        for o in self.outputs:
            parts += [o.amount.to_bytes(8, "little"), compact_size(len(o.script)), o.script]
        if with_witness:
            for i in self.inputs:
                parts.append(compact_size(len(i.witness)))
                parts += [compact_size(len(item)) + item for item in i.witness]
        parts.append(self.locktime.to_bytes(4, "little"))
        return b"".join(parts)

    def txid(self) -> str:
        """The transaction id (display hex) — hash of the non-witness serialisation."""
        return sha256d(self.encode(witness=False))[::-1].hex()


def decode_tx(data: bytes, *, what: str = "transaction", allow_witness: bool = True) -> Tx:
    """Decode a whole serialised transaction; trailing bytes are an error."""
    r = Reader(data, what)
    tx = _read_tx(r, allow_witness)
    if not r.done:
        raise r.fail(f"{len(data) - r.pos} trailing bytes")
    return tx


def _read_tx(r: Reader, allow_witness: bool) -> Tx:
    version = r.uint(4)
    segwit = False
    if allow_witness and r.data[r.pos : r.pos + 2] == b"\x00\x01":
        r.pos += 2
        segwit = True
    n_in = r.compact()
    if n_in > len(r.data):
        raise r.fail(f"input count {n_in} larger than the data")
    raw_inputs = []
    for _ in range(n_in):
        txid = r.take(32)[::-1].hex()
        raw_inputs.append((txid, r.uint(4), r.var_bytes(), r.uint(4)))
    n_out = r.compact()
    if n_out > len(r.data):
        raise r.fail(f"output count {n_out} larger than the data")
    outputs = tuple(TxOut(r.uint(8), r.var_bytes()) for _ in range(n_out))
    witnesses: list[tuple[bytes, ...]] = [() for _ in raw_inputs]
    if segwit:
        for k in range(n_in):
            count = r.compact()
            if count > len(r.data):
                raise r.fail(f"witness item count {count} larger than the data")
            witnesses[k] = tuple(r.var_bytes() for _ in range(count))
        if not any(witnesses):
            raise r.fail("segwit marker with all witnesses empty")
    inputs = tuple(
        TxIn(t, v, s, q, w) for (t, v, s, q), w in zip(raw_inputs, witnesses, strict=True)
    )
    return Tx(version, inputs, outputs, r.uint(4), segwit)


KeyValue = tuple[bytes, bytes]  # (full key including its type, value)


@dataclass(frozen=True)
class Psbt:
    """A decoded PSBT: its version and every map as ordered (key, value) pairs."""

    version: int
    globals: tuple[KeyValue, ...]
    inputs: tuple[tuple[KeyValue, ...], ...]
    outputs: tuple[tuple[KeyValue, ...], ...]

    def encode(self) -> bytes:
        """The binary PSBT (byte-identical to what was decoded)."""
        parts = [MAGIC]
        for kv_map in (self.globals, *self.inputs, *self.outputs):
            for key, value in kv_map:
                parts += [compact_size(len(key)), key, compact_size(len(value)), value]
            parts.append(b"\x00")
        return b"".join(parts)

    def transaction(self) -> Tx:
        """The unsigned transaction (version 0: the global one; version 2: assembled)."""
        if self.version == 0:
            return decode_tx(_get(self.globals, G_UNSIGNED_TX) or b"", allow_witness=False)
        locktime = _get(self.globals, G_FALLBACK_LOCKTIME)
        inputs = tuple(
            TxIn(
                (_get(m, I_PREVIOUS_TXID) or b"")[::-1].hex(),
                int.from_bytes(_get(m, I_OUTPUT_INDEX) or b"", "little"),
                b"",
                int.from_bytes(_get(m, I_SEQUENCE) or b"\xff\xff\xff\xff", "little"),
            )
            for m in self.inputs
        )
        outputs = tuple(
            TxOut(int.from_bytes(_get(m, O_AMOUNT) or b"", "little"), _get(m, O_SCRIPT) or b"")
            for m in self.outputs
        )
        return Tx(
            int.from_bytes(_get(self.globals, G_TX_VERSION) or b"", "little"),
            inputs,
            outputs,
            int.from_bytes(locktime, "little") if locktime else 0,
        )

    def input_value(self, index: int) -> tuple[int, bytes] | None:
        """(amount, scriptPubKey) of the output input `index` spends, when the PSBT says.

        From PSBT_IN_WITNESS_UTXO, else from PSBT_IN_NON_WITNESS_UTXO (whose txid must be
        the one the input spends, or ParseError)."""
        kv = self.inputs[index]
        witness_utxo = _get(kv, I_WITNESS_UTXO)
        if witness_utxo is not None:
            r = Reader(witness_utxo, f"PSBT input {index} witness UTXO")
            out = TxOut(r.uint(8), r.var_bytes())
            return out.amount, out.script
        prev = _get(kv, I_NON_WITNESS_UTXO)
        if prev is None:
            return None
        spent = self.transaction().inputs[index]
        tx = decode_tx(prev, what=f"PSBT input {index} non-witness UTXO")
        if tx.txid() != spent.txid:
            raise ParseError(
                f"PSBT input {index}: non-witness UTXO is tx {tx.txid()}, the input spends "
                f"{spent.txid}"
            )
        if spent.vout >= len(tx.outputs):
            raise ParseError(f"PSBT input {index}: spends output {spent.vout} of a shorter tx")
        out = tx.outputs[spent.vout]
        return out.amount, out.script

    def input_field(self, index: int, key_type: int) -> bytes | None:
        """The value of a key-data-less field of input `index`, if present."""
        return _get(self.inputs[index], key_type)


def _get(kv_map: tuple[KeyValue, ...], key_type: int) -> bytes | None:
    key = compact_size(key_type)
    for k, v in kv_map:
        if k == key:
            return v
    return None


def decode(data: bytes) -> Psbt:
    """Decode and validate a binary PSBT of version 0 or 2."""
    if not data.startswith(MAGIC):
        raise ParseError("PSBT: missing magic bytes 'psbt\\xff' at offset 0")
    r = Reader(data, "PSBT")
    r.pos = len(MAGIC)
    global_map = _read_map(r, "global", _GLOBAL_RULES)
    version_value = _get(global_map, G_VERSION)
    version = int.from_bytes(version_value, "little") if version_value else 0
    if version not in (0, 2):
        raise ParseError(f"PSBT: unsupported version {version} (0 and 2 are defined)")
    types = {_key_type(k) for k, _ in global_map}
    if version == 0:
        n_in, n_out = _v0_counts(global_map, types)
    else:
        n_in, n_out = _v2_counts(global_map, types)
    inputs = tuple(_read_map(r, f"input {i}", _INPUT_RULES) for i in range(n_in))
    outputs = tuple(_read_map(r, f"output {i}", _OUTPUT_RULES) for i in range(n_out))
    if not r.done:
        raise r.fail(f"{len(data) - r.pos} bytes after the last output map")
    psbt = Psbt(version, global_map, inputs, outputs)
    _check_maps(psbt)
    return psbt


def _v0_counts(global_map: tuple[KeyValue, ...], types: set[int]) -> tuple[int, int]:
    if types & _V2_ONLY_GLOBAL:
        raise ParseError("PSBT v0: has version-2-only global fields")
    raw = _get(global_map, G_UNSIGNED_TX)
    if raw is None:
        raise ParseError("PSBT v0: no unsigned transaction (PSBT_GLOBAL_UNSIGNED_TX)")
    tx = decode_tx(raw, what="PSBT unsigned transaction", allow_witness=False)
    if any(i.script_sig for i in tx.inputs):
        raise ParseError("PSBT unsigned transaction: an input has a non-empty scriptSig")
    return len(tx.inputs), len(tx.outputs)


def _v2_counts(global_map: tuple[KeyValue, ...], types: set[int]) -> tuple[int, int]:
    if G_UNSIGNED_TX in types:
        raise ParseError("PSBT v2: has PSBT_GLOBAL_UNSIGNED_TX (version 0 only)")
    for key_type, name in (
        (G_TX_VERSION, "PSBT_GLOBAL_TX_VERSION"),
        (G_INPUT_COUNT, "PSBT_GLOBAL_INPUT_COUNT"),
        (G_OUTPUT_COUNT, "PSBT_GLOBAL_OUTPUT_COUNT"),
    ):
        if key_type not in types:
            raise ParseError(f"PSBT v2: missing {name}")
    counts = []
    for key_type in (G_INPUT_COUNT, G_OUTPUT_COUNT):
        r = Reader(_get(global_map, key_type) or b"", "PSBT v2 count")
        counts.append(r.compact())
        if not r.done:
            raise r.fail("count value longer than its CompactSize")
    return counts[0], counts[1]


def _key_type(key: bytes) -> int:
    return Reader(key, "PSBT key").compact()


def _read_map(
    r: Reader,
    where: str,
    rules: dict[int, tuple[tuple[int, ...] | None, tuple[int, ...] | None]],
) -> tuple[KeyValue, ...]:
    pairs: list[KeyValue] = []
    seen: set[bytes] = set()
    while True:
        start = r.pos
        key_len = r.compact()
        if key_len == 0:
            return tuple(pairs)
        key = r.take(key_len)
        value = r.var_bytes()
        if key in seen:
            raise ParseError(f"PSBT {where}: duplicate key 0x{key.hex()} at offset {start}")
        seen.add(key)
        kr = Reader(key, f"PSBT {where} key", start)
        key_type = kr.compact()
        key_data_len = len(key) - kr.pos
        rule = rules.get(key_type)
        if rule is not None:
            lengths, sizes = rule
            if lengths is not None and key_data_len not in lengths:
                raise ParseError(
                    f"PSBT {where}: key type 0x{key_type:02x} with {key_data_len} bytes of key "
                    f"data (allowed {lengths}) at offset {start}"
                )
            if sizes is not None and len(value) not in sizes:
                raise ParseError(
                    f"PSBT {where}: key type 0x{key_type:02x} value of {len(value)} bytes "
                    f"(allowed {sizes}) at offset {start}"
                )
        pairs.append((key, value))


def _check_maps(psbt: Psbt) -> None:
    """Per-version field presence and the typed values that must parse."""
    for i, kv in enumerate(psbt.inputs):
        types = {_key_type(k) for k, _ in kv}
        if psbt.version == 0 and types & _V2_ONLY_INPUT:
            raise ParseError(f"PSBT v0 input {i}: has version-2-only fields")
        if psbt.version == 2:
            for key_type, name in (
                (I_PREVIOUS_TXID, "PREVIOUS_TXID"),
                (I_OUTPUT_INDEX, "OUTPUT_INDEX"),
            ):
                if key_type not in types:
                    raise ParseError(f"PSBT v2 input {i}: missing PSBT_IN_{name}")
            _check_locktimes(kv, i)
        utxo = _get(kv, I_NON_WITNESS_UTXO)
        if utxo is not None:
            decode_tx(utxo, what=f"PSBT input {i} non-witness UTXO")
        witness_utxo = _get(kv, I_WITNESS_UTXO)
        if witness_utxo is not None:
            r = Reader(witness_utxo, f"PSBT input {i} witness UTXO")
            r.uint(8)
            r.var_bytes()
            if not r.done:
                raise r.fail("bytes after the output")
        final_witness = _get(kv, I_FINAL_SCRIPTWITNESS)
        if final_witness is not None:
            r = Reader(final_witness, f"PSBT input {i} final script witness")
            for _ in range(r.compact()):
                r.var_bytes()
            if not r.done:
                raise r.fail("bytes after the witness stack")
    for i, kv in enumerate(psbt.outputs):
        types = {_key_type(k) for k, _ in kv}
        if psbt.version == 0 and types & _V2_ONLY_OUTPUT:
            raise ParseError(f"PSBT v0 output {i}: has version-2-only fields")
        if psbt.version == 2:
            for key_type, name in ((O_AMOUNT, "AMOUNT"), (O_SCRIPT, "SCRIPT")):
                if key_type not in types:
                    raise ParseError(f"PSBT v2 output {i}: missing PSBT_OUT_{name}")


def _check_locktimes(kv: tuple[KeyValue, ...], index: int) -> None:
    time_lock = _get(kv, I_REQUIRED_TIME_LOCKTIME)
    if time_lock is not None and int.from_bytes(time_lock, "little") < 500_000_000:
        raise ParseError(f"PSBT v2 input {index}: required time locktime below 500000000")
    height = _get(kv, I_REQUIRED_HEIGHT_LOCKTIME)
    if height is not None and not 0 < int.from_bytes(height, "little") < 500_000_000:
        raise ParseError(f"PSBT v2 input {index}: required height locktime not in 1..499999999")
