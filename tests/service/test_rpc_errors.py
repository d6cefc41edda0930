"""Status codes seen by real gRPC callers: mapped core errors, malformed and oversized
requests. UNKNOWN must never appear."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import numpy as np
import pytest

from tests.service.fakes import FakeVault, Served, served, unit_rows
from tests.service.test_errors import EXPECTED
from vault import deadline, errors
from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.client import ClientError, VaultClient
from vault.service.errors import INTERNAL_DETAILS
from vault.types import CollectionSpec, ProtectionMode

DIM = 4
_PROBE = np.ones(DIM, np.float32)

CALLS: dict[str, Callable[[VaultClient], object]] = {
    "create": lambda c: c.create_collection(CollectionSpec("new", ProtectionMode.CKKS, DIM)),
    "get": lambda c: c.get_collection("c"),
    "enroll": lambda c: c.enroll("c", ["a", "b"], np.ones((2, DIM), np.float32), chunk_rows=1),
    "verify": lambda c: c.verify("c", "a", _PROBE),
    "identify": lambda c: c.identify("c", _PROBE.reshape(1, -1), top_k=1),
    "delete": lambda c: c.delete("c", "a"),
}


@pytest.fixture
def seeded(client: VaultClient, fake: FakeVault) -> VaultClient:
    """Collection "c" exists (identification allowed) before faults are injected."""
    client.create_collection(
        CollectionSpec("c", ProtectionMode.CKKS, DIM, allow_identification=True)
    )
    fake.calls.clear()
    return client


@pytest.mark.parametrize("rpc", CALLS)
@pytest.mark.parametrize("error_class", EXPECTED, ids=lambda cls: cls.__name__)
def test_core_errors_reach_callers_as_their_mapped_code(
    seeded: VaultClient, fake: FakeVault, rpc: str, error_class: type[errors.VaultError]
) -> None:
    """Every error class raised by the core, on every RPC, arrives as its mapped code."""
    fake.fail_with = error_class("collection 'c' is busy")
    with pytest.raises(ClientError) as caught:
        CALLS[rpc](seeded)
    assert caught.value.code is EXPECTED[error_class]
    if caught.value.code is grpc.StatusCode.INTERNAL:
        assert caught.value.details == INTERNAL_DETAILS
    else:
        assert caught.value.details == "collection 'c' is busy"


@pytest.mark.parametrize("rpc", CALLS)
def test_unexpected_core_exceptions_are_internal_not_unknown(
    seeded: VaultClient, fake: FakeVault, rpc: str
) -> None:
    """A bug in the core (a plain RuntimeError) surfaces as INTERNAL with a generic message."""
    fake.fail_with = RuntimeError("template [0.25, 0.5] broke something")
    with pytest.raises(ClientError) as caught:
        CALLS[rpc](seeded)
    assert (caught.value.code, caught.value.details) == (grpc.StatusCode.INTERNAL, INTERNAL_DETAILS)


def test_unknown_collection_is_not_found(client: VaultClient) -> None:
    """Asking for a collection that does not exist gives NOT_FOUND."""
    with pytest.raises(ClientError) as caught:
        client.get_collection("missing")
    assert caught.value.code is grpc.StatusCode.NOT_FOUND


def test_identification_disabled_is_failed_precondition(
    client: VaultClient, rng: np.random.Generator
) -> None:
    """1:N search in a collection that does not allow it gives FAILED_PRECONDITION."""
    client.create_collection(CollectionSpec("v", ProtectionMode.CKKS, DIM))
    with pytest.raises(ClientError) as caught:
        client.identify("v", unit_rows(rng, 1, DIM), top_k=1)
    assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION


def _call(live: Served, method: str, request: object) -> grpc.StatusCode:
    with grpc.insecure_channel(live.target) as channel:
        stub = vault_pb2_grpc.TemplateVaultStub(channel)
        try:
            getattr(stub, method)(request, timeout=10)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    "batch",
    [
        vault_pb2.TemplateBatch(dim=DIM, dtype=vault_pb2.DTYPE_FLOAT32, data=b"\0" * 15),
        vault_pb2.TemplateBatch(dim=DIM, dtype=5, data=b"\0" * 16),  # type: ignore[arg-type]
        vault_pb2.TemplateBatch(dim=0, dtype=vault_pb2.DTYPE_FLOAT32, data=b"\0" * 16),
        None,
    ],
    ids=["bad length", "unknown dtype", "dim 0", "missing"],
)
def test_malformed_batches_are_invalid_argument(
    live: Served, batch: vault_pb2.TemplateBatch | None
) -> None:
    """Bad data length, unknown dtype, dim 0 or a missing probe give INVALID_ARGUMENT."""
    request = vault_pb2.VerifyRequest(collection="c", subject_id="a", probe=batch)
    assert _call(live, "Verify", request) is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("method", ["CreateCollection", "Verify", "Identify", "Delete"])
def test_undecodable_request_bytes_are_invalid_argument(live: Served, method: str) -> None:
    """Bytes that are not a protobuf message give INVALID_ARGUMENT, not INTERNAL."""
    with grpc.insecure_channel(live.target) as channel:
        call = channel.unary_unary(f"/biovault.v1.TemplateVault/{method}")
        with pytest.raises(grpc.RpcError) as caught:
            call(b"\xff\xff\xff\xff", timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid biovault.v1." in caught.value.details()


def test_oversized_message_is_resource_exhausted(live: Served, rng: np.random.Generator) -> None:
    """A request above the server's 4 MiB limit is refused by gRPC with RESOURCE_EXHAUSTED."""
    with (
        live.client(max_message_bytes=64 * 1024 * 1024) as big_sender,
        pytest.raises(ClientError) as caught,
    ):
        big_sender.identify("c", unit_rows(rng, 2200, 512), top_k=1)  # ~4.5 MiB
    assert caught.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not [name for name, _ in live.api.calls if name == "identify"]


def test_unreachable_server_is_unavailable() -> None:
    """Connecting to a port nobody listens on gives UNAVAILABLE."""
    with VaultClient("127.0.0.1:1", timeout=5) as lonely, pytest.raises(ClientError) as caught:
        lonely.get_collection("c")
    assert caught.value.code is grpc.StatusCode.UNAVAILABLE


class _DeadlineRecorder(FakeVault):
    """Records how much of the caller's deadline the core saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float | None] = []

    def get_collection(self, name, ctx):  # type: ignore[no-untyped-def]
        self.seen.append(deadline.remaining())
        return super().get_collection(name, ctx)


def test_the_callers_deadline_reaches_the_core() -> None:
    """The gRPC deadline is what the core (and the key service under it) must finish in."""
    recorder = _DeadlineRecorder()
    with served(recorder) as running, running.client(timeout=4.0) as client:
        client.create_collection(CollectionSpec("c", ProtectionMode.CKKS, 8, True, ("access",)))
        client.get_collection("c")
    (left,) = recorder.seen
    assert left is not None and 0 < left <= 4.5  # gRPC rounds the deadline it carries
    assert deadline.remaining() is None  # nothing leaks out of the handler
