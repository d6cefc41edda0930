"""Shared set-up for the pytest-benchmark suites: a real core over a real SQLite
file and a real CKKS key set with its worker processes, one gallery per size.

Sizes come from BIOVAULT_BENCH_SIZES (comma-separated, default 4096,16384,65536).
Run with `make bench`; not part of the default test run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from vault.audit.base import AuditEvent, AuditSink
from vault.bench.synthetic import make_set
from vault.core.vault import VaultCore
from vault.he.keyset import CkksKeySet
from vault.he.params import DEFAULT_PARAMS_ID, get_params
from vault.keys.datakey import DataKey
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionSpec, ProtectionMode, RequestContext

CTX = RequestContext(
    actor="bench", purpose="benchmark", consent_ref="synthetic", legal_basis="synthetic-data"
)
DIM = 512
SIZES = [int(s) for s in os.environ.get("BIOVAULT_BENCH_SIZES", "4096,16384,65536").split(",")]


class _NullAudit(AuditSink):
    def append(self, event: AuditEvent) -> None:
        pass


@pytest.fixture(scope="session")
def keyset():
    keys = CkksKeySet.generate(get_params(DEFAULT_PARAMS_ID))
    keys.start_workers(os.cpu_count() or 1)
    yield keys
    keys.stop_workers()


def new_core(path, keyset) -> VaultCore:
    core = VaultCore(
        store=SqliteTemplateStore(path),
        keyset=keyset,
        audit=_NullAudit(),
        pseudonym_key=DataKey._unsafe_from_material(os.urandom(32), "bench"),
    )
    core.create_collection(
        CollectionSpec(
            "bench", ProtectionMode.CKKS, DIM, allow_identification=True, purposes=("benchmark",)
        ),
        CTX,
    )
    return core


@pytest.fixture(scope="session", params=SIZES, ids=lambda n: f"gallery={n}")
def gallery(request, keyset, tmp_path_factory):
    """(size, data, core) with ``size`` templates enrolled."""
    size = request.param
    data = make_set(size, DIM, 32, seed=size)
    core = new_core(tmp_path_factory.mktemp(f"g{size}") / "vault.db", keyset)
    for first in range(0, size, 16384):
        core.enroll(
            "bench",
            [f"id-{i}" for i in range(first, min(size, first + 16384))],
            data.gallery[first : first + 16384],
            CTX,
        )
    return size, data, core


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best])]
