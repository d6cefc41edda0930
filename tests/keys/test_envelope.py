"""Envelope encryption of secret blobs through a real OpenBao Transit KEK."""

from __future__ import annotations

import struct

import pytest

from tests.support.openbao import DevServer
from vault.errors import IntegrityError, InvalidArgument, KeyServiceUnavailable
from vault.keys.envelope import (
    ENVELOPE_MAGIC,
    open_sealed,
    replace_wrapped_key,
    rewrap_sealed,
    seal_with_new_key,
    wrapped_key_of,
)
from vault.keys.hcvault import HcVaultKeyService

SECRET = b"ckks secret key \x00\x01\x02 bytes" * 3
AAD = b"ckks-secret-key/collection=faces"


def test_round_trip(key_service: HcVaultKeyService) -> None:
    """A sealed blob opens to the original plaintext with the same AAD."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    assert sealed.startswith(ENVELOPE_MAGIC)
    assert SECRET not in sealed
    assert open_sealed(key_service, sealed, AAD) == SECRET


def test_empty_plaintext_round_trip(key_service: HcVaultKeyService) -> None:
    """An empty secret still seals and opens."""
    sealed = seal_with_new_key(key_service, b"", b"")
    assert open_sealed(key_service, sealed, b"") == b""


def test_each_seal_uses_a_fresh_data_key(key_service: HcVaultKeyService) -> None:
    """Two seals of the same plaintext carry different wrapped keys."""
    first = seal_with_new_key(key_service, SECRET, AAD)
    second = seal_with_new_key(key_service, SECRET, AAD)
    assert wrapped_key_of(first) != wrapped_key_of(second)


def test_wrong_aad_is_rejected(key_service: HcVaultKeyService) -> None:
    """Opening with different associated data raises IntegrityError."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    with pytest.raises(IntegrityError):
        open_sealed(key_service, sealed, AAD + b"x")


def test_tampering_any_byte_is_rejected(key_service: HcVaultKeyService) -> None:
    """Flipping a bit anywhere in the blob (header, wrapped key, payload) raises IntegrityError."""
    sealed = seal_with_new_key(key_service, b"short secret", AAD)
    for position in range(len(sealed)):
        for mask in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[position] ^= mask
            with pytest.raises(IntegrityError):
                open_sealed(key_service, bytes(tampered), AAD)


@pytest.mark.parametrize("cut", [0, 3, 7, 20, -1, -28])
def test_truncation_is_rejected(key_service: HcVaultKeyService, cut: int) -> None:
    """A truncated blob raises IntegrityError."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    with pytest.raises(IntegrityError):
        open_sealed(key_service, sealed[:cut], AAD)


def test_other_kek_cannot_open(key_service: HcVaultKeyService, openbao_dev: DevServer) -> None:
    """A blob whose data key was wrapped by another KEK raises IntegrityError."""
    other = HcVaultKeyService(
        addr=openbao_dev.addr, token=openbao_dev.token, kek_name=key_service.kek_name + "-other"
    )
    other.ensure_transit()
    sealed = seal_with_new_key(other, SECRET, AAD)
    other.close()
    with pytest.raises(IntegrityError):
        open_sealed(key_service, sealed, AAD)


def test_wrapped_key_extraction(key_service: HcVaultKeyService) -> None:
    """wrapped_key_of returns the Transit ciphertext stored in the header."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    wrapped = wrapped_key_of(sealed)
    assert wrapped.startswith("vault:v1:")
    (length,) = struct.unpack_from(">H", sealed, 5)
    assert sealed[7 : 7 + length].decode() == wrapped
    assert key_service.wrapped_key_version(wrapped) == 1


def test_rewrapped_key_replacement_keeps_payload(key_service: HcVaultKeyService) -> None:
    """After a KEK rotation the rewrapped key replaces the old one and the blob still opens."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    assert key_service.rotate_kek() == 2
    new_wrapped = key_service.rewrap_data_key(wrapped_key_of(sealed))
    assert new_wrapped.startswith("vault:v2:")
    replaced = replace_wrapped_key(sealed, new_wrapped)
    assert wrapped_key_of(replaced) == new_wrapped
    assert replaced.endswith(sealed[-40:])
    assert open_sealed(key_service, replaced, AAD) == SECRET


def test_rewrap_sealed(key_service: HcVaultKeyService) -> None:
    """rewrap_sealed moves a blob to the latest KEK version without changing its content."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    key_service.rotate_kek()
    rewrapped = rewrap_sealed(key_service, sealed)
    assert key_service.wrapped_key_version(wrapped_key_of(rewrapped)) == 2
    assert open_sealed(key_service, rewrapped, AAD) == SECRET


def test_replacing_with_a_different_data_key_fails(key_service: HcVaultKeyService) -> None:
    """Swapping in another blob's wrapped key makes the blob fail authentication."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    other = wrapped_key_of(seal_with_new_key(key_service, SECRET, AAD))
    with pytest.raises(IntegrityError):
        open_sealed(key_service, replace_wrapped_key(sealed, other), AAD)


def test_replace_refuses_unstorable_wrapped_key(key_service: HcVaultKeyService) -> None:
    """A wrapped key that is empty or not printable ASCII is refused."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    for bad in ("", "vault:v1:a b", "vault:v1:\u00e9"):
        with pytest.raises(InvalidArgument):
            replace_wrapped_key(sealed, bad)


@pytest.mark.parametrize("blob", [b"", b"BVEN", b"XXXX\x01\x00\x05vault" + bytes(40)])
def test_malformed_blobs_are_integrity_errors(blob: bytes) -> None:
    """Malformed blobs are reported as IntegrityError before any key service call."""
    with pytest.raises(IntegrityError):
        wrapped_key_of(blob)


def test_non_bytes_arguments_are_refused(key_service: HcVaultKeyService) -> None:
    """A str plaintext or AAD is an InvalidArgument, not a silent encoding."""
    with pytest.raises(InvalidArgument):
        seal_with_new_key(key_service, "text", AAD)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        seal_with_new_key(key_service, SECRET, "aad")  # type: ignore[arg-type]


def test_unreachable_key_service_is_unavailable_not_integrity(
    key_service: HcVaultKeyService, dead_addr: str
) -> None:
    """A blob opened while the key service is down raises KeyServiceUnavailable."""
    sealed = seal_with_new_key(key_service, SECRET, AAD)
    down = HcVaultKeyService(addr=dead_addr, token="t", kek_name=key_service.kek_name)
    with pytest.raises(KeyServiceUnavailable):
        open_sealed(down, sealed, AAD)
