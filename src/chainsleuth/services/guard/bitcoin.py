"""Bitcoin transactions (PSBT or unsigned raw) as guard intents.

Every output is a transfer: `change` when its scriptPubKey belongs to the wallet (derived
from the request's output descriptors or listed addresses), `payment` otherwise. The fee
is known when the PSBT gives every input's previous output; the virtual size of the signed
transaction is estimated from the type of each spent script (or its final scriptSig and
witness when already finalised), so a fee-rate ceiling can be checked before signing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from chainsleuth.chains.bitcoin import address as btc_address
from chainsleuth.chains.bitcoin import descriptors, psbt, script
from chainsleuth.services.guard.intent import CHANGE, PAYMENT, Fees, Finding, Intent, Transfer

# Witness weight and scriptSig bytes of a typical signature spend, by spent script type.
_P2WPKH_WITNESS = 1 + 1 + 72 + 1 + 33  # item count, DER signature + sighash, compressed key
_P2TR_WITNESS = 1 + 1 + 64  # item count, Schnorr signature (SIGHASH_DEFAULT)
_P2PKH_SCRIPTSIG = 1 + 72 + 1 + 33
_P2SH_P2WPKH_SCRIPTSIG = 1 + 22


@lru_cache(maxsize=32)
def wallet_scripts(
    descriptor_list: tuple[str, ...], address_list: tuple[str, ...], network: str
) -> frozenset[bytes]:
    """Every scriptPubKey of the wallet (cached: deriving ranged descriptors is the slow
    part of a check, and a signing service checks many transactions of one wallet)."""
    own: set[bytes] = set()
    for text in descriptor_list:
        own |= descriptors.scripts(text, network)
    for text in address_list:
        own.add(btc_address.to_script(text, network, "wallet address"))
    return frozenset(own)


def intent(
    data: bytes,
    *,
    psbt_form: bool,
    network: str,
    wallet: Sequence[str],
    addresses: Sequence[str],
) -> Intent:
    """The intent of a PSBT (binary) or an unsigned raw transaction.

    `wallet` holds output descriptors, or plain addresses (anything without parentheses).
    """
    descs = tuple(w for w in wallet if "(" in w)
    plain = tuple([*addresses, *(w for w in wallet if "(" not in w)])
    own = wallet_scripts(descs, plain, network)
    if psbt_form:
        decoded = psbt.decode(data)
        tx = decoded.transaction()
        spent = [decoded.input_value(i) for i in range(len(tx.inputs))]
        out = Intent(chain="bitcoin", source=f"PSBT version {decoded.version}")
    else:
        tx = psbt.decode_tx(data, what="raw transaction")
        spent = [None] * len(tx.inputs)
        decoded = None
        out = Intent(chain="bitcoin", source="raw transaction")
    known = [s[0] for s in spent if s is not None]
    total = f" totalling {sum(known)} sat" if len(known) == len(spent) else ""
    out.summary.append(f"spends {len(tx.inputs)} input(s){total}")
    for i, o in enumerate(tx.outputs):
        kind, addr = script.classify(o.script, network)
        role = CHANGE if o.script in own else PAYMENT
        shown = addr or f"{kind}:{o.script.hex()}"
        if kind == "nulldata" and o.amount == 0:
            out.summary.append(f"output {i}: OP_RETURN data, no value")
            continue
        out.transfers.append(Transfer(shown, "BTC", o.amount, role, f"output {i}"))
        tail = " — change back to the wallet" if role == CHANGE else ""
        out.summary.append(f"output {i}: {o.amount} sat to {shown} ({kind}){tail}")
    if all(s is not None for s in spent):
        total_in = sum(s[0] for s in spent if s is not None)
        fee = total_in - sum(o.amount for o in tx.outputs)
        if fee < 0:
            out.findings.append(
                Finding("outputs_exceed_inputs", f"outputs exceed inputs by {-fee} sat")
            )
        vsize = _estimate_vsize(tx, spent, decoded, out)
        out.fees = Fees(fee=fee, vsize=vsize)
        out.summary.append(f"fee {fee} sat, ~{vsize} vB once signed")
    else:
        out.notes.append("fee unknown: the previous outputs of some inputs are not given")
    for i, s in enumerate(spent):
        if s is not None and s[1] not in own:
            out.notes.append(f"input {i} spends a script the wallet descriptors do not cover")
    return out


def _estimate_vsize(
    tx: psbt.Tx,
    spent: Sequence[tuple[int, bytes] | None],
    decoded: psbt.Psbt | None,
    out: Intent,
) -> int:
    base = len(tx.encode(witness=False))
    witness = 0
    for i, s in enumerate(spent):
        final_sig = decoded.input_field(i, psbt.I_FINAL_SCRIPTSIG) if decoded else None
        final_wit = decoded.input_field(i, psbt.I_FINAL_SCRIPTWITNESS) if decoded else None
        if final_sig is not None or final_wit is not None:
            base += len(final_sig or b"")
            witness += len(final_wit or b"")
            continue
        kind = script.classify(s[1], "mainnet")[0] if s is not None else "unknown"
        if kind == "p2wpkh":
            witness += _P2WPKH_WITNESS
        elif kind == "p2tr":
            witness += _P2TR_WITNESS
        elif kind == "p2pkh":
            base += _P2PKH_SCRIPTSIG
        elif kind == "p2sh" and decoded and _is_p2wpkh(decoded.input_field(i, 0x04)):
            base += _P2SH_P2WPKH_SCRIPTSIG
            witness += _P2WPKH_WITNESS
        else:
            out.notes.append(f"input {i}: {kind} spend, size not estimated (vsize is a floor)")
    if witness:
        witness += 2  # segwit marker and flag
    return (4 * base + witness + 3) // 4


def _is_p2wpkh(redeem: bytes | None) -> bool:
    return redeem is not None and len(redeem) == 22 and redeem[:2] == b"\x00\x14"
