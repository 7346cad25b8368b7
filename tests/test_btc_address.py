"""Bitcoin address codecs and script classification against published vectors.

Bech32/bech32m strings and segwit addresses: the test vectors of BIP-173 and BIP-350 (as in
Pieter Wuille's reference implementation). Base58Check: the genesis block's key, whose
P2PKH address 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa is well known.
"""

from __future__ import annotations

import hashlib

import pytest

from chainsleuth.chains.bitcoin import address as addr
from chainsleuth.chains.bitcoin import network
from chainsleuth.chains.bitcoin.script import classify
from chainsleuth.errors import AddressError, InputError

VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
INVALID_STRINGS = [
    " 1nwldj5",
    "\x7f1axkwrx",
    "\x801eym55h",
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
    "pzry9x0s0muk",
    "1pzry9x0s0muk",
    "x1b4n0q5v",
    "li1dgmt3",
    "de1lg7wt\xff",
    "A1G7SGD8",
    "10a06t8",
    "1qzzfhee",
    " 1xj0phk",
    "\x7f1g6xzxy",
    "\x801vctc34",
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
    "qyrz8wqd2c9m",
    "1qyrz8wqd2c9m",
    "y1b0jsk6g",
    "lt1igcx5c0",
    "in1muywd",
    "mm1crxm3i",
    "au1s5cgom",
    "M1VUXWEZ",
    "16plkw9",
    "1p2gdwpf",
]
VALID_SEGWIT = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]
INVALID_SEGWIT = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
    "bc1pw5dgrnzv",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
    "bc1gmk9yu",
]

# Genesis coinbase output key and its well-known P2PKH address.
GENESIS_KEY = bytes.fromhex(
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51"
    "ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
)
GENESIS_ADDRESS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


@pytest.mark.parametrize("text", VALID_BECH32)
def test_bech32_strings(text: str) -> None:
    _, _, const = addr.bech32_decode(text)
    assert const == addr.BECH32_CONST


@pytest.mark.parametrize("text", VALID_BECH32M)
def test_bech32m_strings(text: str) -> None:
    hrp, data, const = addr.bech32_decode(text)
    assert const == addr.BECH32M_CONST
    assert addr.bech32_encode(hrp, data, const) == text.lower()
    pos = text.rfind("1")
    flipped = text[: pos + 1] + chr(ord(text[pos + 1]) ^ 1) + text[pos + 2 :]
    with pytest.raises(AddressError):
        addr.bech32_decode(flipped)


@pytest.mark.parametrize("text", INVALID_STRINGS)
def test_invalid_bech32_strings(text: str) -> None:
    with pytest.raises(AddressError):
        addr.bech32_decode(text)


@pytest.mark.parametrize(("text", "script_hex"), VALID_SEGWIT)
def test_valid_segwit_addresses(text: str, script_hex: str) -> None:
    net = "mainnet" if text.lower().startswith("bc") else "testnet"
    assert addr.validate(text, net) == text.lower()
    assert addr.to_script(text, net).hex() == script_hex
    assert addr.encode(addr.decode(text, net), net) == text.lower()
    kind, address = classify(bytes.fromhex(script_hex), net)
    assert address == text.lower()
    assert kind in ("p2wpkh", "p2wsh", "p2tr", "witness_unknown")


@pytest.mark.parametrize("text", INVALID_SEGWIT)
def test_invalid_segwit_addresses(text: str) -> None:
    for net in ("mainnet", "testnet"):
        with pytest.raises(AddressError):
            addr.validate(text, net)


def test_error_messages_tell_checksum_network_and_malformed_apart() -> None:
    with pytest.raises(AddressError, match=r"--seed: .*Base58Check checksum"):
        addr.validate(GENESIS_ADDRESS[:-1] + "b", "mainnet", where="--seed")
    with pytest.raises(AddressError, match="is a mainnet address, not testnet"):
        addr.validate(GENESIS_ADDRESS, "testnet")
    with pytest.raises(AddressError, match=r"is a testnet/signet address, not mainnet"):
        addr.validate(VALID_SEGWIT[1][0], "mainnet")
    with pytest.raises(AddressError, match=r"needs bech32m, got bech32"):
        addr.validate(INVALID_SEGWIT[1], "mainnet")
    with pytest.raises(AddressError, match=r"bech32/bech32m checksum"):
        addr.validate("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "mainnet")
    with pytest.raises(AddressError, match="not a Bitcoin address"):
        addr.validate("0OIl-not-an-address", "mainnet")
    with pytest.raises(AddressError, match="empty"):
        addr.validate("  ", "mainnet")
    with pytest.raises(InputError, match="unknown Bitcoin network"):
        addr.validate(GENESIS_ADDRESS, "moonnet")


def test_base58check_genesis_key() -> None:
    h = addr.hash160(GENESIS_KEY)
    assert h.hex() == "62e907b15cbf27d5425399ebf6f0fb50ebb88f18"
    assert addr.base58check_encode(0, h) == GENESIS_ADDRESS
    assert addr.validate(GENESIS_ADDRESS, "mainnet") == GENESIS_ADDRESS
    assert addr.decode(GENESIS_ADDRESS, "mainnet") == addr.Decoded("p2pkh", h)
    assert addr.to_script(GENESIS_ADDRESS, "mainnet").hex() == "76a914" + h.hex() + "88ac"


def test_network_genesis_hashes_match_their_headers() -> None:
    """Each network's genesis hash recomputes from the genesis header of chainparams.cpp."""
    merkle = bytes.fromhex("4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")
    fields = {
        "mainnet": (1231006505, 0x1D00FFFF, 2083236893),
        "testnet": (1296688602, 0x1D00FFFF, 414098458),
        "signet": (1598918400, 0x1E0377AE, 52613770),
        "regtest": (1296688602, 0x207FFFFF, 2),
    }
    for name, (time, bits, nonce) in fields.items():
        header = (
            (1).to_bytes(4, "little")
            + bytes(32)
            + merkle[::-1]
            + b"".join(v.to_bytes(4, "little") for v in (time, bits, nonce))
        )
        assert addr.sha256d(header)[::-1].hex() == network.get(name).genesis_hash


def _nonstandard(script: bytes) -> str:
    return "nonstandard" + hashlib.sha256(script).hexdigest()[:40]


def test_classify_standard_and_edge_scripts() -> None:
    h20 = bytes(range(20))
    key33 = b"\x02" + bytes(32)
    p2pk = bytes([65]) + GENESIS_KEY + b"\xac"
    assert classify(p2pk, "mainnet") == ("p2pk", GENESIS_ADDRESS)
    assert classify(b"\x76\xa9\x14" + h20 + b"\x88\xac", "mainnet")[0] == "p2pkh"
    kind, p2sh_testnet = classify(b"\xa9\x14" + h20 + b"\x87", "testnet")
    assert kind == "p2sh" and p2sh_testnet is not None and p2sh_testnet.startswith("2")
    multisig = b"\x51\x21" + key33 + b"\x21" + key33 + b"\x52\xae"
    assert classify(multisig, "mainnet") == ("multisig", _nonstandard(multisig))
    assert classify(b"\x6a\x04abcd", "mainnet") == ("nulldata", None)
    assert classify(b"\x6a", "mainnet") == ("nulldata", None)
    truncated_push = b"\x6a\x4c\x10ab"  # OP_RETURN PUSHDATA1 16 bytes, only 2 present
    assert classify(truncated_push, "mainnet") == ("nonstandard", _nonstandard(truncated_push))
    v0_odd = b"\x00\x10" + bytes(16)  # v0 program of 16 bytes: not a valid segwit output
    assert classify(v0_odd, "mainnet") == ("nonstandard", _nonstandard(v0_odd))
    assert classify(b"", "mainnet") == ("nonstandard", _nonstandard(b""))
    bad_key = bytes([33]) + b"\x05" + bytes(32) + b"\xac"  # 0x05 is no key prefix
    assert classify(bad_key, "mainnet")[0] == "nonstandard"
    assert classify(b"\x51\x02\x4e\x73", "regtest") == (
        "witness_unknown",
        addr.encode_segwit("bcrt", 1, b"\x4e\x73"),
    )


def test_signet_shares_testnet_encodings_and_regtest_has_its_own() -> None:
    from chainsleuth.chains.bitcoin.script import classify

    key_hash = bytes(range(20))
    p2pkh = b"\x76\xa9\x14" + key_hash + b"\x88\xac"
    p2wpkh = b"\x00\x14" + key_hash
    by_net = {
        net: (classify(p2pkh, net)[1], classify(p2wpkh, net)[1])
        for net in ("mainnet", "testnet", "signet", "regtest")
    }
    assert by_net["signet"] == by_net["testnet"]  # same version byte 0x6F and hrp "tb"
    assert by_net["signet"][0] == addr.base58check_encode(0x6F, key_hash)
    assert by_net["signet"][1] == addr.encode_segwit("tb", 0, key_hash)
    assert by_net["regtest"][1] == addr.encode_segwit("bcrt", 0, key_hash)
    assert by_net["mainnet"] == (
        addr.base58check_encode(0x00, key_hash),
        addr.encode_segwit("bc", 0, key_hash),
    )
    for net in ("signet", "regtest"):  # each address round-trips to its script
        assert addr.to_script(by_net[net][0], net) == p2pkh
        assert addr.to_script(by_net[net][1], net) == p2wpkh
    with pytest.raises(AddressError, match="not regtest"):
        addr.validate(by_net["signet"][1], "regtest")
