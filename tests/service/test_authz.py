"""The roles x RPCs matrix over real mutual TLS, refusals audited, plaintext = local admin."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.service.fakes import free_port
from vault.api.v1 import admin_pb2, compliance_pb2, transform_keys_pb2, vault_pb2
from vault.cli.devcerts import DevPki, write_dev_pki
from vault.client.channel import ClientTls, open_channel
from vault.errors import VaultError
from vault.service.authz import AuthorizationInterceptor
from vault.service.ratelimit import RateLimit, RateLimiter
from vault.service.roles import OPEN, RPC_ROLES, Role, RoleMap
from vault.service.tls import ServerTls
from vault.types import RequestContext

_FILES = (vault_pb2, admin_pb2, compliance_pb2, transform_keys_pb2)
_SHAPES: dict[str, tuple[bool, bool]] = {
    f"/{service.full_name}/{method.name}": (method.client_streaming, method.server_streaming)
    for module in _FILES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
}
_SHAPES["/grpc.health.v1.Health/Check"] = (False, False)
_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class _Refusals:
    """Stands in for the core's audit path."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str]] = []

    def record_refused_call(self, rpc: str, error: VaultError, ctx: RequestContext) -> None:
        self.entries.append((rpc, type(error).__name__, ctx.actor))


def _behavior(shape: tuple[bool, bool]) -> Any:
    def answer(request: Any, context: Any) -> Any:
        if shape[0]:
            list(request)
        return iter([b""]) if shape[1] else b""

    return answer


class _AnyMethod(grpc.GenericRpcHandler):
    """Answers every method of the table with an empty message."""

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        shape = _SHAPES.get(handler_call_details.method)
        return None if shape is None else _FACTORIES[shape](_behavior(shape))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A development PKI with a certificate per role."""
    roles = tuple(r.value for r in Role)
    return write_dev_pki(tmp_path_factory.mktemp("pki"), roles, nameless=True)


def _serve(interceptor: AuthorizationInterceptor, tls: ServerTls | None) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(4), interceptors=[interceptor])
    server.add_generic_rpc_handlers((_AnyMethod(),))
    target = f"127.0.0.1:{free_port()}"
    if tls is None:
        server.add_insecure_port(target)
    else:
        server.add_secure_port(target, tls.credentials())
    server.start()
    return server, target


@pytest.fixture(scope="module")
def refusals() -> _Refusals:
    """Refusals the mTLS server audited."""
    return _Refusals()


@pytest.fixture(scope="module")
def mtls_target(pki: DevPki, refusals: _Refusals) -> Iterator[str]:
    """A server behind the authorisation interceptor on mutual TLS."""
    interceptor = AuthorizationInterceptor(role_map=RoleMap(), audit=refusals)
    server, target = _serve(interceptor, ServerTls(pki.server_cert, pki.server_key, pki.ca_cert))
    yield target
    server.stop(None)


def _call(channel: grpc.Channel, method: str) -> grpc.StatusCode:
    request_streaming, response_streaming = _SHAPES[method]
    try:
        if request_streaming:
            channel.stream_unary(method)(iter([b""]), timeout=10)
        elif response_streaming:
            list(channel.unary_stream(method)(b"", timeout=10))
        else:
            channel.unary_unary(method)(b"", timeout=10)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_the_table_covers_every_rpc_of_every_service() -> None:
    """No RPC of the four services can be served without a row in the table."""
    missing = [m for m in _SHAPES if m not in RPC_ROLES]
    assert missing == []
    assert all(Role.ADMIN in roles for roles in RPC_ROLES.values())


_HOLDERS = [*(r.value for r in Role), "healthcheck", "nameless"]


@pytest.mark.parametrize("holder", _HOLDERS)
def test_roles_by_rpc_matrix(
    pki: DevPki, mtls_target: str, refusals: _Refusals, holder: str
) -> None:
    """Each certificate reaches exactly the RPCs its role allows; every refusal is audited."""
    cert, key = pki.clients[holder]
    role = Role(holder) if holder in {r.value for r in Role} else None
    before = len(refusals.entries)
    expected: list[tuple[str, str]] = []
    with open_channel(mtls_target, ClientTls(pki.ca_cert, cert, key)) as channel:
        for method, shape_known in ((m, m in _SHAPES) for m in RPC_ROLES):
            if not shape_known:
                continue  # reflection is a bidi stream of its own
            roles = RPC_ROLES[method]
            code = _call(channel, method)
            if roles is OPEN or (role is not None and role in roles):
                assert code is grpc.StatusCode.OK, method
            elif holder == "nameless":
                assert code is grpc.StatusCode.UNAUTHENTICATED, method
                expected.append((method, "Unauthenticated"))
            else:
                assert code is grpc.StatusCode.PERMISSION_DENIED, method
                expected.append((method, "PermissionDenied"))
    audited = refusals.entries[before:]
    assert [(rpc, outcome) for rpc, outcome, _ in audited] == expected
    actor = "anonymous:" if holder == "nameless" else f"cert:CN=biovault-{holder}"
    assert all(entry[2].startswith(actor) for entry in audited)


def test_no_client_certificate_is_refused_at_the_handshake(pki: DevPki, mtls_target: str) -> None:
    """Without a client certificate nothing is reached, not even health."""
    with open_channel(mtls_target, ClientTls(pki.ca_cert)) as channel:
        assert _call(channel, "/grpc.health.v1.Health/Check") is grpc.StatusCode.UNAVAILABLE


def test_an_unknown_ca_is_refused_at_the_handshake(
    tmp_path: Path, pki: DevPki, mtls_target: str
) -> None:
    """A certificate from another CA never reaches a handler."""
    other = write_dev_pki(tmp_path, ("admin",))
    cert, key = other.clients["admin"]
    with open_channel(mtls_target, ClientTls(pki.ca_cert, cert, key)) as channel:
        assert _call(channel, "/biovault.v1.TemplateVault/Verify") is grpc.StatusCode.UNAVAILABLE


def test_role_map_file_grants_roles_by_common_name(tmp_path: Path, pki: DevPki) -> None:
    """A role map can grant roles a certificate does not carry, or switch the OU rule off."""
    path = tmp_path / "roles.json"
    path.write_text(
        '{"identities": {"CN=biovault-auditor": ["matcher"]}, "role_attributes": false}'
    )
    interceptor = AuthorizationInterceptor(role_map=RoleMap.load(path))
    server, target = _serve(interceptor, ServerTls(pki.server_cert, pki.server_key, pki.ca_cert))
    try:
        cert, key = pki.clients["auditor"]
        with open_channel(target, ClientTls(pki.ca_cert, cert, key)) as channel:
            assert _call(channel, "/biovault.v1.TemplateVault/Verify") is grpc.StatusCode.OK
            denied = _call(channel, "/biovault.v1.AuditLog/Export")
            assert denied is grpc.StatusCode.PERMISSION_DENIED
    finally:
        server.stop(None)


def test_loopback_plaintext_callers_are_the_local_admin() -> None:
    """Without TLS every caller may call everything (development mode)."""
    server, target = _serve(AuthorizationInterceptor(role_map=None), None)
    try:
        with open_channel(target, None) as channel:
            assert all(_call(channel, m) is grpc.StatusCode.OK for m in _SHAPES)
    finally:
        server.stop(None)


def test_scoring_calls_beyond_the_burst_are_resource_exhausted() -> None:
    """The token bucket answers RESOURCE_EXHAUSTED once a client's burst is spent."""
    limiter = RateLimiter(RateLimit(rate=0.001, burst=3))
    server, target = _serve(AuthorizationInterceptor(role_map=None, limiter=limiter), None)
    try:
        with open_channel(target, None) as channel:
            codes = [_call(channel, "/biovault.v1.TemplateVault/Verify") for _ in range(5)]
            other = _call(channel, "/biovault.v1.TemplateVault/GetCollection")
    finally:
        server.stop(None)
    assert codes == [grpc.StatusCode.OK] * 3 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    assert other is grpc.StatusCode.OK
