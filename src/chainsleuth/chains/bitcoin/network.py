"""Bitcoin network parameters: block-file magic, address version bytes, bech32 prefix.

Every codec takes the network by name and looks its parameters up here; nothing is
selected globally (python-bitcoinlib's `SelectParams` is the pitfall this avoids).
Values from Bitcoin Core `src/kernel/chainparams.cpp` (pchMessageStart, base58Prefixes,
bech32_hrp) and the genesis blocks defined there.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.errors import InputError


@dataclass(frozen=True)
class Network:
    """Consensus-level encodings of one Bitcoin network."""

    name: str
    magic: bytes  # 4 bytes that open every record of blk*.dat (and every P2P message)
    p2pkh_version: int  # Base58Check version byte of pay-to-pubkey-hash addresses
    p2sh_version: int  # Base58Check version byte of pay-to-script-hash addresses
    hrp: str  # bech32/bech32m human-readable part of segwit addresses
    genesis_hash: str  # display (byte-reversed) hex of block 0


NETWORKS: dict[str, Network] = {
    n.name: n
    for n in (
        Network(
            "mainnet",
            bytes.fromhex("f9beb4d9"),
            0x00,
            0x05,
            "bc",
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
        ),
        Network(
            "testnet",
            bytes.fromhex("0b110907"),
            0x6F,
            0xC4,
            "tb",
            "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        ),
        Network(
            "signet",
            bytes.fromhex("0a03cf40"),
            0x6F,
            0xC4,
            "tb",
            "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
        ),
        Network(
            "regtest",
            bytes.fromhex("fabfb5da"),
            0x6F,
            0xC4,
            "bcrt",
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        ),
    )
}


def get(name: str) -> Network:
    """The parameters of network `name`, or InputError listing the known ones."""
    try:
        return NETWORKS[name]
    except KeyError:
        known = ", ".join(NETWORKS)
        raise InputError(f"unknown Bitcoin network {name!r}; use one of: {known}") from None
