"""EIP-55 checksums, against the examples published in the EIP itself."""

from __future__ import annotations

import pytest

from chainsleuth.chains.ethereum.address import normalize, to_checksum
from chainsleuth.errors import AddressError

# The test cases listed in EIP-55.
EIP55 = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55)
def test_eip55_examples(address: str) -> None:
    assert to_checksum(address.lower()) == address
    assert normalize(address) == address.lower()


def test_bad_checksum_is_rejected_with_expected_form() -> None:
    bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # last letter's case flipped
    with pytest.raises(AddressError, match="EIP-55 checksum"):
        normalize(bad, where="--seed")


@pytest.mark.parametrize(
    "bad", ["5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x1234", "0xzz" + "0" * 38]
)
def test_malformed(bad: str) -> None:
    with pytest.raises(AddressError):
        normalize(bad)
