"""Ethereum transactions: legacy (with or without EIP-155), EIP-2930 and EIP-1559.

Decodes the bytes a signer is asked to sign (or an already signed transaction) into a
`Transaction`, and encodes it back byte for byte. Forms accepted:

- legacy, 6 fields: unsigned, no replay protection (no chain id);
- legacy, 9 fields: unsigned EIP-155 (`v` = chain id, `r` = `s` = empty) or signed
  (`v` = 27/28, or `chain_id * 2 + 35/36` under EIP-155);
- `0x01 || rlp([chainId, nonce, gasPrice, gasLimit, to, value, data, accessList])`
  (EIP-2930) and `0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas,
  gasLimit, to, value, data, accessList])` (EIP-1559), each optionally followed by
  `yParity, r, s`;
- the JSON object of `eth_signTransaction` / wallets (hex or decimal quantities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chainsleuth.chains.ethereum import rlp
from chainsleuth.chains.ethereum.address import keccak256
from chainsleuth.errors import ParseError

LEGACY, ACCESS_LIST, DYNAMIC_FEE = 0, 1, 2


@dataclass(frozen=True)
class AccessEntry:
    """One EIP-2930 access-list entry: an address and the storage slots it pre-warms."""

    address: str
    storage_keys: tuple[bytes, ...]


@dataclass(frozen=True)
class Signature:
    """`v` as encoded (legacy: 27/28 or EIP-155 value; typed: y parity 0/1), `r`, `s`."""

    v: int
    r: int
    s: int


@dataclass(frozen=True)
class Transaction:
    """A decoded Ethereum transaction; `to` is None for a contract creation.

    `gas_price` is set for types 0 and 1, the two EIP-1559 fee fields for type 2.
    `chain_id` is None only for a pre-EIP-155 legacy transaction (replayable on any chain).
    """

    tx_type: int
    chain_id: int | None
    nonce: int
    gas_limit: int
    to: str | None
    value: int
    data: bytes
    gas_price: int | None = None
    max_priority_fee_per_gas: int | None = None
    max_fee_per_gas: int | None = None
    access_list: tuple[AccessEntry, ...] = ()
    signature: Signature | None = None

    def max_fee(self) -> int:
        """The most wei per gas this transaction can pay (gasPrice or maxFeePerGas)."""
        return self.max_fee_per_gas if self.max_fee_per_gas is not None else self.gas_price or 0

    def unsigned_fields(self) -> list[rlp.Item]:
        """The RLP fields covered by the signature (without EIP-155 chain id suffix)."""
        to = bytes.fromhex(self.to[2:]) if self.to else b""
        common: list[rlp.Item] = [
            rlp.encode_uint(self.gas_limit),
            to,
            rlp.encode_uint(self.value),
            self.data,
        ]
        if self.tx_type == LEGACY:
            return [rlp.encode_uint(self.nonce), rlp.encode_uint(self.gas_price or 0), *common]
        chain = rlp.encode_uint(self.chain_id or 0)
        access: list[rlp.Item] = [
            [bytes.fromhex(e.address[2:]), list(e.storage_keys)] for e in self.access_list
        ]
        if self.tx_type == ACCESS_LIST:
            fees: list[rlp.Item] = [rlp.encode_uint(self.gas_price or 0)]
        else:
            fees = [
                rlp.encode_uint(self.max_priority_fee_per_gas or 0),
                rlp.encode_uint(self.max_fee_per_gas or 0),
            ]
        return [chain, rlp.encode_uint(self.nonce), *fees, *common, access]

    def signing_payload(self) -> bytes:
        """The exact bytes whose keccak256 the sender signs."""
        fields = self.unsigned_fields()
        if self.tx_type != LEGACY:
            return bytes([self.tx_type]) + rlp.encode(fields)
        if self.chain_id is None:
            return rlp.encode(fields)
        return rlp.encode([*fields, rlp.encode_uint(self.chain_id), b"", b""])

    def signing_hash(self) -> bytes:
        """keccak256 of the signing payload (what a hardware wallet signs)."""
        return keccak256(self.signing_payload())

    def encode(self) -> bytes:
        """The wire bytes: the signed transaction, or the unsigned form it was decoded from."""
        if self.signature is None:
            return self.signing_payload()
        sig = [rlp.encode_uint(x) for x in (self.signature.v, self.signature.r, self.signature.s)]
        fields = self.unsigned_fields()
        if self.tx_type == LEGACY:
            return rlp.encode([*fields, *sig])
        return bytes([self.tx_type]) + rlp.encode([*fields, *sig])


def decode(raw: bytes) -> Transaction:
    """Decode a raw (signed or unsigned) transaction; ParseError says which field is bad."""
    if not raw:
        raise ParseError("ethereum transaction: empty input")
    if raw[0] >= 0xC0:
        return _decode_legacy(rlp.decode(raw, what="legacy transaction"))
    if raw[0] in (ACCESS_LIST, DYNAMIC_FEE):
        item = rlp.decode(raw[1:], what=f"type-{raw[0]} transaction")
        return _decode_typed(raw[0], item)
    raise ParseError(f"ethereum transaction: unknown type byte 0x{raw[0]:02x} at offset 0")


def _fields(item: rlp.Item, counts: tuple[int, ...], what: str) -> list[bytes | list[Any]]:
    if not isinstance(item, list):
        raise ParseError(f"{what}: expected an RLP list, got a byte string")
    if len(item) not in counts:
        want = " or ".join(str(c) for c in counts)
        raise ParseError(f"{what}: {len(item)} fields, expected {want}")
    return list(item)


def _uint(value: Any, field: str, what: str, *, bits: int = 256) -> int:
    if not isinstance(value, bytes):
        raise ParseError(f"{what}: field {field} is a list, expected an integer")
    if len(value) * 8 > bits:
        raise ParseError(f"{what}: field {field} longer than {bits} bits")
    return rlp.decode_uint(value, field=f"{what}.{field}")


def _to(value: Any, what: str) -> str | None:
    if not isinstance(value, bytes) or len(value) not in (0, 20):
        raise ParseError(f"{what}: field to must be 20 bytes or empty")
    return "0x" + value.hex() if value else None


def _bytes(value: Any, field: str, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ParseError(f"{what}: field {field} is a list, expected bytes")
    return value


def _decode_legacy(item: rlp.Item) -> Transaction:
    what = "legacy transaction"
    f = _fields(item, (6, 9), what)
    chain_id: int | None = None
    signature: Signature | None = None
    if len(f) == 9:
        v, r, s = (_uint(f[6 + i], name, what) for i, name in enumerate("vrs"))
        if r == 0 and s == 0:
            if v == 0:
                raise ParseError(f"{what}: unsigned EIP-155 form with chain id 0")
            chain_id = v
        elif v >= 35:
            chain_id, signature = (v - 35) // 2, Signature(v, r, s)
        elif v in (27, 28):
            signature = Signature(v, r, s)
        else:
            raise ParseError(f"{what}: signature v={v} is neither 27/28 nor EIP-155 (>= 35)")
    return Transaction(
        tx_type=LEGACY,
        chain_id=chain_id,
        nonce=_uint(f[0], "nonce", what, bits=64),
        gas_price=_uint(f[1], "gasPrice", what),
        gas_limit=_uint(f[2], "gasLimit", what, bits=64),
        to=_to(f[3], what),
        value=_uint(f[4], "value", what),
        data=_bytes(f[5], "data", what),
        signature=signature,
    )


def _decode_typed(tx_type: int, item: rlp.Item) -> Transaction:
    what = f"type-{tx_type} transaction"
    n = 8 if tx_type == ACCESS_LIST else 9
    f = _fields(item, (n, n + 3), what)
    if tx_type == ACCESS_LIST:
        fees: dict[str, int] = {"gas_price": _uint(f[2], "gasPrice", what)}
    else:
        fees = {
            "max_priority_fee_per_gas": _uint(f[2], "maxPriorityFeePerGas", what),
            "max_fee_per_gas": _uint(f[3], "maxFeePerGas", what),
        }
    rest = f[n - 5 :]
    signature = None
    if len(f) == n + 3:
        y, r, s = (_uint(f[n + i], name, what) for i, name in enumerate(("yParity", "r", "s")))
        if y > 1:
            raise ParseError(f"{what}: yParity {y} is not 0 or 1")
        signature = Signature(y, r, s)
    return Transaction(
        tx_type=tx_type,
        chain_id=_uint(f[0], "chainId", what),
        nonce=_uint(f[1], "nonce", what, bits=64),
        gas_limit=_uint(rest[0], "gasLimit", what, bits=64),
        to=_to(rest[1], what),
        value=_uint(rest[2], "value", what),
        data=_bytes(rest[3], "data", what),
        access_list=_access_list(rest[4], what),
        signature=signature,
        gas_price=fees.get("gas_price"),
        max_priority_fee_per_gas=fees.get("max_priority_fee_per_gas"),
        max_fee_per_gas=fees.get("max_fee_per_gas"),
    )


def _access_list(value: Any, what: str) -> tuple[AccessEntry, ...]:
    if not isinstance(value, list):
        raise ParseError(f"{what}: accessList is not a list")
    entries = []
    for i, entry in enumerate(value):
        where = f"{what}: accessList[{i}]"
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes)):
            raise ParseError(f"{where} is not [address, storageKeys]")
        if len(entry[0]) != 20 or not isinstance(entry[1], list):
            raise ParseError(f"{where} has a malformed address or key list")
        keys = entry[1]
        if not all(isinstance(k, bytes) and len(k) == 32 for k in keys):
            raise ParseError(f"{where} has a storage key that is not 32 bytes")
        entries.append(AccessEntry("0x" + entry[0].hex(), tuple(keys)))
    return tuple(entries)


def from_json(obj: Mapping[str, Any]) -> Transaction:
    """A transaction from its JSON object (quantities as 0x-hex or decimal)."""
    what = "transaction JSON"
    tx_type = _quantity(obj.get("type", 2 if "maxFeePerGas" in obj else 0), "type")
    if tx_type not in (LEGACY, ACCESS_LIST, DYNAMIC_FEE):
        raise ParseError(f"{what}: unsupported type {tx_type}")
    chain = obj.get("chainId")
    chain_id = None if chain is None else _quantity(chain, "chainId")
    if tx_type != LEGACY and chain_id is None:
        raise ParseError(f"{what}: chainId is required for type {tx_type}")
    to = obj.get("to")
    data = obj.get("data", obj.get("input")) or "0x"
    gas = obj.get("gas", obj.get("gasLimit"))
    if gas is None:
        raise ParseError(f"{what}: field gas (or gasLimit) is missing")
    names = (
        [("gas_price", "gasPrice")]
        if tx_type != DYNAMIC_FEE
        else [
            ("max_priority_fee_per_gas", "maxPriorityFeePerGas"),
            ("max_fee_per_gas", "maxFeePerGas"),
        ]
    )
    fees: dict[str, int] = {}
    for attr, key in names:
        if key not in obj:
            raise ParseError(f"{what}: field {key} is missing")
        fees[attr] = _quantity(obj[key], key)
    access = tuple(
        AccessEntry(
            _address(e.get("address"), "accessList.address"),
            tuple(_hex(k, "accessList.storageKeys", size=32) for k in e.get("storageKeys", [])),
        )
        for e in obj.get("accessList") or []
    )
    return Transaction(
        tx_type=tx_type,
        chain_id=chain_id,
        nonce=_quantity(obj.get("nonce", 0), "nonce"),
        gas_limit=_quantity(gas, "gas"),
        to=None if to in (None, "", "0x") else _address(to, "to"),
        value=_quantity(obj.get("value", 0), "value"),
        data=_hex(data, "data"),
        access_list=access,
        gas_price=fees.get("gas_price"),
        max_priority_fee_per_gas=fees.get("max_priority_fee_per_gas"),
        max_fee_per_gas=fees.get("max_fee_per_gas"),
    )


def _quantity(value: Any, field: str) -> int:
    """A JSON quantity: int, decimal string or 0x-hex string."""
    if isinstance(value, bool):
        raise ParseError(f"transaction JSON: field {field} is a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 16) if value.lower().startswith("0x") else int(value, 10)
        except ValueError:
            raise ParseError(f"transaction JSON: field {field}={value!r} is not a number") from None
    else:
        raise ParseError(f"transaction JSON: field {field} is not a number")
    if not 0 <= number < 2**256:
        raise ParseError(f"transaction JSON: field {field} out of range")
    return number


def _hex(value: Any, field: str, *, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ParseError(f"transaction JSON: field {field} is not 0x-hex")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise ParseError(f"transaction JSON: field {field} is not valid hex") from None
    if size is not None and len(data) != size:
        raise ParseError(f"transaction JSON: field {field} is not {size} bytes")
    return data


def _address(value: Any, field: str) -> str:
    return "0x" + _hex(value, field, size=20).hex()
