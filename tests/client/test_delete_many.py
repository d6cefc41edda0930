"""VaultClient.delete_many against the real service (OpenBao, gRPC, SQLite, TenSEAL)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from tests.service.fakes import unit_rows
from tests.support.service import ServiceProcess
from vault.client import ClientError, VaultClient
from vault.types import CollectionSpec, ProtectionMode

DIM = 16


def test_delete_many_is_all_or_nothing_with_a_receipt_each(
    real_service: ServiceProcess,
) -> None:
    """An unknown id erases nobody; a good list erases each subject, one receipt each
    (its own audit entry, distinct leaves), in request order; a chunked list too."""
    gallery = unit_rows(np.random.default_rng(11), 30, DIM)
    ids = [f"m{i}" for i in range(30)]
    with VaultClient(real_service.target, timeout=120) as client:
        client.create_collection(CollectionSpec("many", ProtectionMode.CKKS, DIM, purposes=("p",)))
        client.enroll("many", ids, gallery, purpose="p", consent_ref="c-1", legal_basis="consent")
        with pytest.raises(ClientError) as refused:
            client.delete_many("many", ["m1", "m2", "ghost"])
        assert refused.value.code is grpc.StatusCode.NOT_FOUND
        with pytest.raises(ClientError) as repeated:
            client.delete_many("many", ["m1", "m1"])
        assert repeated.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert client.get_collection("many").size == 30

        gone = ["m9", "m1", "m20"]
        results = client.delete_many("many", gone, purpose="erasure-request")
        assert [r.subject_id for r in results] == gone
        assert all(r.erased == 1 and r.receipt is not None for r in results)
        leaves = [r.receipt.leaf_index for r in results if r.receipt is not None]
        assert len(set(leaves)) == 3
        chunked = client.delete_many("many", [f"m{i}" for i in range(2, 8)], chunk=4)
        assert [r.subject_id for r in chunked] == [f"m{i}" for i in range(2, 8)]
        assert client.get_collection("many").size == 30 - 3 - 6
        assert client.verify("many", "m0", gallery[0], purpose="p").match
        assert not client.verify("many", "m9", gallery[9], purpose="p").match
