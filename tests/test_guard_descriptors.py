"""Output descriptors: BIP-380 checksum vectors, and BIP-32 public derivation checked
against the published addresses of BIP-84 (wpkh) and BIP-86 (tr)."""

from __future__ import annotations

import base58
import pytest

from chainsleuth.chains.bitcoin import address, descriptors
from chainsleuth.errors import ParseError

BIP86_XPUB = (
    "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCEC"
    "oY49yfdDEHGCtMMj92pReUsQ"
)
BIP86_ADDRESSES = [  # m/86'/0'/0'/0/0, /0/1, /1/0
    "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
    "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh",
    "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7",
]
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgD"
    "Kf31mGDtKsAYz2oz2AGutZYs"
)
BIP84_ADDRESSES = [  # m/84'/0'/0'/0/0, /0/1, /1/0
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
    "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el",
]


def as_xpub(zpub: str) -> str:
    """BIP-84's zpub with xpub version bytes (the same key and chain code)."""
    raw = base58.b58decode_check(zpub)
    return base58.b58encode_check(bytes.fromhex("0488b21e") + raw[4:]).decode()


def test_bip380_checksum_vectors() -> None:
    assert descriptors.checksum("raw(deadbeef)") == "89f8spxm"
    assert descriptors.strip_checksum("raw(deadbeef)#89f8spxm") == "raw(deadbeef)"
    for bad in (
        "raw(deadbeef)#",
        "raw(deadbeef)#89f8spxmx",
        "raw(deadbeef)#89f8spx",
        "raw(deedbeef)#89f8spxm",
        "raw(deedbeef)##9f8spxm",
        "raw(Ü)#00000000",
    ):
        with pytest.raises(ParseError):
            descriptors.strip_checksum(bad)


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        (f"tr({BIP86_XPUB}/<0;1>/*)", BIP86_ADDRESSES),
        (f"wpkh([deadbeef/84h/0h/0h]{as_xpub(BIP84_ZPUB)}/<0;1>/*)", BIP84_ADDRESSES),
    ],
)
def test_published_addresses_are_derived(descriptor: str, expected: list[str]) -> None:
    body = descriptor
    scripts = descriptors.scripts(f"{body}#{descriptors.checksum(body)}", "mainnet", 3)
    assert len(scripts) == 6
    for a in expected:
        assert address.to_script(a, "mainnet") in scripts


def test_fixed_keys_and_nested_forms() -> None:
    key = "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"
    first = address.to_script(BIP84_ADDRESSES[0], "mainnet")
    assert descriptors.scripts(f"wpkh({key})", "mainnet") == {first}
    (p2sh,) = descriptors.scripts(f"sh(wpkh({key}))", "mainnet")
    assert p2sh[:2] == b"\xa9\x14" and len(p2sh) == 23
    (p2wsh,) = descriptors.scripts(f"wsh(sortedmulti(1,{key},{key}))", "mainnet")
    assert p2wsh[:2] == b"\x00\x20"
    assert descriptors.scripts(f"addr({BIP84_ADDRESSES[1]})", "mainnet") == {
        address.to_script(BIP84_ADDRESSES[1], "mainnet")
    }


@pytest.mark.parametrize(
    "bad",
    [
        f"wpkh({BIP86_XPUB}/0h/*)",  # hardened step after an xpub
        f"wpkh({BIP86_XPUB}/*/0)",  # wildcard not last
        "wpkh(02abcd)",  # not a key
        "combo(02abcd)",  # unsupported function
        "wpkh(xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi/*)",
    ],
)
def test_bad_descriptors_raise_parse_error(bad: str) -> None:
    with pytest.raises(ParseError):
        descriptors.scripts(bad, "mainnet", 2)
