"""Wire codec: template batches, collections and results, with strict validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.api.v1 import vault_pb2
from vault.client import codec as client_codec
from vault.errors import InvalidArgument
from vault.service import codec
from vault.types import (
    CollectionInfo,
    CollectionSpec,
    DeleteResult,
    Match,
    ProtectionMode,
    VerifyResult,
)


def _verify_request(batch: vault_pb2.TemplateBatch) -> vault_pb2.VerifyRequest:
    return vault_pb2.VerifyRequest(collection="c", subject_id="s", probe=batch)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_templates_round_trip_exactly(dtype: type, rng: np.random.Generator) -> None:
    """Encoding then decoding returns the same values, dtype and shape."""
    rows: np.ndarray = rng.standard_normal((5, 7)).astype(dtype)
    request = vault_pb2.IdentifyRequest(probes=client_codec.encode_templates(rows))
    decoded = codec.decode_templates(request, "probes")
    assert decoded.dtype == dtype and decoded.shape == (5, 7)
    np.testing.assert_array_equal(decoded, rows)
    assert decoded.flags.writeable


def test_big_endian_and_strided_input_is_sent_little_endian(rng: np.random.Generator) -> None:
    """Any byte order or memory layout is normalised to little-endian row-major bytes."""
    rows = rng.standard_normal((4, 6)).astype(">f8")[:, ::2]
    batch = client_codec.encode_templates(rows)
    assert batch.data == np.ascontiguousarray(rows, dtype="<f8").tobytes()
    assert (batch.dim, batch.dtype) == (3, vault_pb2.DTYPE_FLOAT64)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (vault_pb2.TemplateBatch(dim=0, dtype=vault_pb2.DTYPE_FLOAT32, data=b"\0" * 8), "dim"),
        (
            vault_pb2.TemplateBatch(dim=2, dtype=vault_pb2.DTYPE_UNSPECIFIED, data=b"\0" * 8),
            "dtype",
        ),
        (vault_pb2.TemplateBatch(dim=2, dtype=7, data=b"\0" * 8), "dtype"),  # type: ignore[arg-type]
        (vault_pb2.TemplateBatch(dim=2, dtype=vault_pb2.DTYPE_FLOAT32, data=b"\0" * 9), "9 bytes"),
        (vault_pb2.TemplateBatch(dim=2, dtype=vault_pb2.DTYPE_FLOAT64, data=b""), "0 bytes"),
    ],
)
def test_malformed_batches_are_invalid_arguments(
    batch: vault_pb2.TemplateBatch, message: str
) -> None:
    """Dim 0, unknown dtypes and ragged or empty data are rejected with a named field."""
    with pytest.raises(InvalidArgument, match=message):
        codec.decode_templates(_verify_request(batch), "probe")


def test_missing_batch_is_reported_by_field_name() -> None:
    """A request without its template batch names the missing field."""
    with pytest.raises(InvalidArgument, match="probe is required"):
        codec.decode_templates(vault_pb2.VerifyRequest(), "probe")


def test_probe_must_hold_exactly_one_row(rng: np.random.Generator) -> None:
    """A verify probe with two rows is refused."""
    request = _verify_request(client_codec.encode_templates(rng.standard_normal((2, 3))))
    with pytest.raises(InvalidArgument, match="exactly one row"):
        codec.decode_probe(request, "probe")


@pytest.mark.parametrize(
    "array",
    [np.zeros((2, 3), np.int32), np.zeros(3, np.float32), np.zeros((0, 3), np.float32)],
)
def test_encoding_refuses_arrays_that_are_not_float_matrices(array: np.ndarray) -> None:
    """Integer, 1-D and empty arrays cannot be encoded."""
    with pytest.raises(InvalidArgument):
        client_codec.encode_templates(array)


def test_collection_spec_round_trip_keeps_an_explicit_threshold() -> None:
    """Every field of a spec survives encode then decode."""
    spec = CollectionSpec(
        name="faces",
        mode=ProtectionMode.HYBRID,
        dim=512,
        allow_identification=True,
        purposes=("border", "access"),
        match_threshold=0.42,
    )
    assert codec.decode_collection_spec(client_codec.encode_collection_spec(spec)) == spec


def test_unset_threshold_keeps_the_vault_default() -> None:
    """A create request without match_threshold decodes to the spec's default."""
    request = vault_pb2.CreateCollectionRequest(
        name="c", mode=vault_pb2.PROTECTION_MODE_CKKS, dim=4
    )
    assert (
        codec.decode_collection_spec(request).match_threshold
        == CollectionSpec("c", ProtectionMode.CKKS, 4).match_threshold
    )


@pytest.mark.parametrize("mode", [0, 99])
def test_unspecified_or_unknown_mode_is_invalid(mode: int) -> None:
    """Mode UNSPECIFIED and unknown enum numbers are rejected."""
    request = vault_pb2.CreateCollectionRequest(name="c", mode=mode, dim=4)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="mode"):
        codec.decode_collection_spec(request)


def test_create_with_dim_zero_is_invalid() -> None:
    """Dim 0 (proto3's unset) is rejected before the core is called."""
    request = vault_pb2.CreateCollectionRequest(name="c", mode=vault_pb2.PROTECTION_MODE_CKKS)
    with pytest.raises(InvalidArgument, match="dim"):
        codec.decode_collection_spec(request)


def test_collection_info_round_trip_keeps_the_timestamp() -> None:
    """Collection info, including created_at to the microsecond, survives the wire."""
    info = CollectionInfo(
        "c", ProtectionMode.CANCELABLE, 8, False, ("p",), 0.3, 12, 1.7e9 + 0.123456
    )
    decoded = client_codec.decode_collection(codec.encode_collection(info))
    assert decoded.created_at == pytest.approx(info.created_at, abs=1e-6)
    assert decoded == CollectionInfo(**{**info.__dict__, "created_at": decoded.created_at})


def test_results_round_trip() -> None:
    """Verify, identify and delete results keep their values and order."""
    verify = VerifyResult(match=True, score=0.75)
    assert client_codec.decode_verify_result(codec.encode_verify_result(verify)) == verify
    matches = [[Match("a", 0.9), Match("b", 0.5)], [], [Match("c", -0.1)]]
    assert client_codec.decode_matches(codec.encode_matches(matches)) == matches
    receipt = DeleteResult("a", 2, 1.7e9)
    assert client_codec.decode_delete_result(codec.encode_delete_result(receipt)) == receipt


def test_top_k_zero_is_invalid() -> None:
    """top_k 0 (proto3's unset) is rejected; 1 is accepted."""
    with pytest.raises(InvalidArgument):
        codec.decode_top_k(0)
    assert codec.decode_top_k(1) == 1


@settings(max_examples=300, deadline=None)
@given(
    dim=st.integers(min_value=0, max_value=2**32 - 1),
    dtype=st.integers(min_value=0, max_value=2**31 - 1),
    data=st.binary(max_size=256),
)
def test_random_batches_decode_or_raise_invalid_argument(dim: int, dtype: int, data: bytes) -> None:
    """Any dim, dtype number and byte string either decodes to a consistent matrix or
    raises InvalidArgument - never anything else."""
    request = _verify_request(vault_pb2.TemplateBatch(dim=dim, dtype=dtype, data=data))  # type: ignore[arg-type]
    try:
        decoded = codec.decode_templates(request, "probe")
    except InvalidArgument:
        return
    assert decoded.shape[1] == dim and decoded.nbytes == len(data)
