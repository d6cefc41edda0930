"""Bad input over real gRPC against the real core (real OpenBao, SQLite, TenSEAL):
a clear error, the right status code, and a store that did not change."""

import hashlib
import sqlite3

import grpc
import numpy as np
import pytest

from tests.support.synthetic import identities
from vault.api.v1 import vault_pb2
from vault.client import ClientError, VaultClient
from vault.config import ServeSettings
from vault.service.bootstrap import open_vault
from vault.service.server import build_server
from vault.types import CollectionSpec, ProtectionMode

DIM = 64
MAX_MESSAGE = 4 * 1024 * 1024
CONSENT = {"purpose": "access", "consent_ref": "c-1", "legal_basis": "consent"}
CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def live(tmp_path_factory, openbao_dev):
    """An in-process server over the real core with one enrolled collection."""
    data_dir = tmp_path_factory.mktemp("bad-input")
    settings = ServeSettings(
        data_dir=data_dir, hcvault_addr=openbao_dev.addr, hcvault_token=openbao_dev.token
    )
    with open_vault(settings) as api:
        server, health, port = build_server(
            api, "127.0.0.1:0", max_message_bytes=MAX_MESSAGE, workers=4
        )
        server.start()
        client = VaultClient(f"127.0.0.1:{port}", timeout=60)
        client.create_collection(
            CollectionSpec(
                "faces", ProtectionMode.CKKS, DIM, allow_identification=True, purposes=("access",)
            )
        )
        templates = identities(20, DIM, np.random.default_rng(5)).astype(np.float32)
        client.enroll("faces", [f"s{i}" for i in range(20)], templates, **CONSENT)
        yield {"client": client, "port": port, "db": data_dir / "vault.db", "templates": templates}
        client.close()
        server.stop(None).wait()
        health.close()


def _store_digest(db_path):
    """Hash of every row of every table, read through a separate connection."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        digest = hashlib.sha256()
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
        ):
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            for row in sorted(rows, key=repr):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def _nan(rows=1):
    bad = np.ones((rows, DIM), dtype=np.float32)
    bad[0, 3] = np.nan
    return bad


BAD_CALLS = [
    (
        "wrong dimension",
        lambda c, t: c.enroll("faces", ["x"], t[:1, :32], **CONSENT),
        CODE.INVALID_ARGUMENT,
    ),
    (
        "NaN template",
        lambda c, t: c.enroll("faces", ["x"], _nan(), **CONSENT),
        CODE.INVALID_ARGUMENT,
    ),
    (
        "inf probe",
        lambda c, t: c.identify(
            "faces", np.full((1, DIM), np.inf, np.float32), top_k=1, purpose="access"
        ),
        CODE.INVALID_ARGUMENT,
    ),
    (
        "unknown collection",
        lambda c, t: c.enroll("nope", ["x"], t[:1], **CONSENT),
        CODE.NOT_FOUND,
    ),
    (
        "duplicate id",
        lambda c, t: c.enroll("faces", ["new", "s3"], t[:2], **CONSENT),
        CODE.ALREADY_EXISTS,
    ),
    (
        "enrolment without consent",
        lambda c, t: c.enroll("faces", ["x"], t[:1], purpose="access"),
        CODE.FAILED_PRECONDITION,
    ),
    (
        "undeclared purpose",
        lambda c, t: c.verify("faces", "s1", t[1], purpose="marketing"),
        CODE.FAILED_PRECONDITION,
    ),
    (
        "no purpose stated",
        lambda c, t: c.identify("faces", t[:1], top_k=1),
        CODE.FAILED_PRECONDITION,
    ),
    (
        "zero vector",
        lambda c, t: c.verify("faces", "s1", np.zeros(DIM, np.float32), purpose="access"),
        CODE.INVALID_ARGUMENT,
    ),
    (
        "norm overflows float64",
        lambda c, t: c.enroll("faces", ["x"], np.full((1, DIM), 1e300), **CONSENT),
        CODE.INVALID_ARGUMENT,
    ),
    ("unknown subject delete", lambda c, t: c.delete("faces", "ghost"), CODE.NOT_FOUND),
]


@pytest.mark.parametrize(("name", "call", "code"), BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_request_is_refused_and_changes_nothing(live, name, call, code):
    """The call fails with the expected status and a message, and the store is byte-identical."""
    before = _store_digest(live["db"])
    with pytest.raises((ClientError, Exception)) as info:
        call(live["client"], live["templates"])
    error = info.value
    assert getattr(error, "code", None) == code, f"{name}: {error!r}"
    assert error.details and "Traceback" not in error.details
    assert _store_digest(live["db"]) == before


def _raw_status(live, method, request, *, stream=False):
    """Send one hand-built request (bytes or message) and return the gRPC error it got."""

    def serialize(message):
        return message if isinstance(message, bytes) else message.SerializeToString()

    options = [("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel(f"127.0.0.1:{live['port']}", options=options) as channel:
        kind = channel.stream_unary if stream else channel.unary_unary
        call = kind(
            f"/biovault.v1.TemplateVault/{method}",
            request_serializer=serialize,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as info:
            call(iter([request]) if stream else request, timeout=10)
    return info.value


def test_malformed_proto_is_invalid_argument(live):
    """Raw garbage bytes sent to Identify get INVALID_ARGUMENT, never UNKNOWN/INTERNAL."""
    before = _store_digest(live["db"])
    error = _raw_status(live, "Identify", b"\xff\xff\xff\x0f garbage")
    assert error.code() == CODE.INVALID_ARGUMENT
    assert _store_digest(live["db"]) == before


def test_empty_batch_is_refused_by_client_and_server(live):
    """An empty enrolment fails locally in the client and, sent raw, at the server."""
    from vault.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        live["client"].enroll("faces", [], np.empty((0, DIM), np.float32))
    before = _store_digest(live["db"])
    empty = vault_pb2.EnrollRequest(
        collection="faces",
        templates=vault_pb2.TemplateBatch(dim=DIM, dtype=vault_pb2.DTYPE_FLOAT32, data=b""),
    )
    error = _raw_status(live, "Enroll", empty, stream=True)
    assert error.code() == CODE.INVALID_ARGUMENT and error.details()
    assert _store_digest(live["db"]) == before


@pytest.mark.parametrize("dtype", [0, 7])
def test_unknown_dtype_is_refused_by_server(live, dtype):
    """A probe batch with an unknown dtype code is INVALID_ARGUMENT at the server."""
    request = vault_pb2.IdentifyRequest(
        collection="faces",
        top_k=1,
        probes=vault_pb2.TemplateBatch(dim=DIM, dtype=dtype, data=b"\0" * (4 * DIM)),
    )
    error = _raw_status(live, "Identify", request)
    assert error.code() == CODE.INVALID_ARGUMENT and error.details()


def test_oversized_message_is_refused(live):
    """A single message over the limit is refused by gRPC and nothing is enrolled."""
    before = _store_digest(live["db"])
    big = vault_pb2.IdentifyRequest(
        collection="faces",
        top_k=1,
        probes=vault_pb2.TemplateBatch(
            dim=DIM, dtype=vault_pb2.DTYPE_FLOAT32, data=b"\0" * (MAX_MESSAGE + 1024)
        ),
    )
    assert _raw_status(live, "Identify", big).code() == CODE.RESOURCE_EXHAUSTED
    assert _store_digest(live["db"]) == before


def test_good_requests_still_work_afterwards(live):
    """After all the bad calls the collection answers normally."""
    templates = live["templates"]
    best = live["client"].identify("faces", templates[:3], top_k=1, purpose="access")
    assert [r[0].subject_id for r in best] == ["s0", "s1", "s2"]
