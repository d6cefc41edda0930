"""The one server interceptor that authenticates, authorises and rate-limits every RPC.

For each call it finds the caller (the verified client certificate under TLS;
on loopback plaintext every caller is the local admin), looks the method up in
:data:`vault.service.roles.RPC_ROLES`, and either lets the call through or ends
it with UNAUTHENTICATED (no certificate) or PERMISSION_DENIED (no role allows
it) - both mapped by :mod:`vault.service.errors` and audited through the core
(``access.refused``). Scoring calls then take a token from the caller's bucket
(RESOURCE_EXHAUSTED when empty).

gRPC's Python server interceptors cannot see the peer's certificate, so the
interceptor wraps the method handler and checks inside it, where the servicer
context is available.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from vault.errors import PermissionDenied, Unauthenticated, VaultError
from vault.service.errors import to_rpc_status
from vault.service.metrics import note_refusal
from vault.service.ratelimit import RATE_LIMITED_RPCS, RateLimiter, probe_cost
from vault.service.roles import OPEN, CertIdentity, Role, RoleMap, allowed_roles
from vault.types import RequestContext

__all__ = [
    "AuthorizationInterceptor",
    "Caller",
    "RefusalAudit",
    "actor_of",
    "caller_context",
    "caller_of",
]

_log = logging.getLogger(__name__)
_LOCAL_ADMIN = frozenset({Role.ADMIN})


class Caller:
    """Who is calling: a label for audit entries and the roles it holds."""

    __slots__ = ("name", "roles")

    def __init__(self, name: str, roles: frozenset[Role]) -> None:
        self.name = name
        self.roles = roles


class RefusalAudit(Protocol):
    """What the core offers to audit refused calls."""

    def record_refused_call(self, rpc: str, error: VaultError, ctx: RequestContext) -> None:
        """Append an ``access.refused`` entry."""


@functools.lru_cache(maxsize=1024)
def _identity(pem: bytes) -> CertIdentity:
    cert = x509.load_pem_x509_certificate(pem)
    subject = cert.subject
    cns = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    units = tuple(
        str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    )
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        ext = None
    if ext is not None:
        sans += [f"DNS:{v}" for v in ext.get_values_for_type(x509.DNSName)]
        sans += [f"URI:{v}" for v in ext.get_values_for_type(x509.UniformResourceIdentifier)]
        sans += [f"IP:{v}" for v in ext.get_values_for_type(x509.IPAddress)]
        sans += [f"EMAIL:{v}" for v in ext.get_values_for_type(x509.RFC822Name)]
    return CertIdentity(cns[0] if cns else "", units, tuple(sans))


def caller_of(context: Any, role_map: RoleMap | None) -> Caller | None:
    """The caller of a call, or None when a TLS caller has no usable identity.

    Under mutual TLS the handshake already refused callers without a valid
    certificate; None here means a certificate with neither a CN nor a SAN.

    Args:
        context: The ``grpc.ServicerContext``.
        role_map: The certificate -> roles mapping; None means plaintext loopback
            development mode, where every caller is the local admin.
    """
    if role_map is None:
        return Caller(f"local:{context.peer() or 'unknown'}", _LOCAL_ADMIN)
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or ()
    if not pems:
        return None
    identity = _identity(bytes(pems[0]))
    if not identity.common_name and not identity.sans:
        return None  # verified, but names nobody: nothing to audit or authorise against
    return Caller(f"cert:{identity.name}", role_map.roles_of(identity))


def actor_of(context: Any) -> str:
    """The audit label of a call's caller: its certificate identity, else its peer."""
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or ()
    if pems:
        return f"cert:{_identity(bytes(pems[0])).name}"
    peer = context.peer()
    return f"peer:{peer}" if peer else "peer:unknown"


def caller_context(context: Any, caller: Caller | None) -> RequestContext:
    """The core's :class:`RequestContext` naming ``caller`` (or the bare peer)."""
    peer = context.peer() or "unknown"
    actor = caller.name if caller is not None else f"anonymous:{peer}"
    return RequestContext(actor=actor, extra={"peer": peer})


class AuthorizationInterceptor(grpc.ServerInterceptor):
    """Checks identity, role and rate limit before any handler runs.

    Args:
        role_map: Certificate -> roles mapping (None: plaintext loopback, local admin).
        audit: Where refusals are recorded (None: only logged).
        limiter: Token buckets for scoring RPCs (None: no rate limit).
    """

    def __init__(
        self,
        *,
        role_map: RoleMap | None,
        audit: RefusalAudit | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._role_map = role_map
        self._audit = audit
        self._limiter = limiter

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or allowed_roles(method) is OPEN:
            return handler
        return _guarded(handler, functools.partial(self._check, method))

    def _check(self, method: str, context: Any, request: Any = None) -> None:
        caller = caller_of(context, self._role_map)
        error: VaultError | None = None
        if caller is None:
            error = Unauthenticated(
                "the client certificate names no identity (no CN and no subject alternative name)"
            )
        elif not caller.roles & allowed_roles(method):
            held = ", ".join(sorted(r.value for r in caller.roles))
            who = f"role {held}" if held else "a certificate without a role"
            error = PermissionDenied(f"{who} may not call {method.rsplit('/', 1)[-1]}")
        if error is not None:
            self._record(method, error, caller_context(context, caller))
            status = to_rpc_status(error, method=method)
            context.abort(status.code, status.details)
        if self._limiter is not None and method in RATE_LIMITED_RPCS:
            assert caller is not None
            try:
                # On loopback plaintext every connection is the one local admin.
                self._limiter.take(
                    "local" if self._role_map is None else caller.name,
                    probe_cost(method, request),  # Identify pays per probe row
                )
            except VaultError as limited:
                note_refusal("rate_limit")  # told apart from lockouts in the metrics
                status = to_rpc_status(limited, method=method)
                context.abort(status.code, status.details)

    def _record(self, method: str, error: VaultError, ctx: RequestContext) -> None:
        _log.warning("refused %s for %s: %s", method, ctx.actor, type(error).__name__)
        if self._audit is None:
            return
        try:
            self._audit.record_refused_call(method, error, ctx)
        except Exception as failure:  # auditing must not turn a refusal into INTERNAL
            _log.error("could not audit a refused call: %s", type(failure).__name__)


def _guarded(handler: grpc.RpcMethodHandler, check: Callable[[Any, Any], None]) -> Any:
    unary = not handler.request_streaming

    def wrap(behavior: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        @functools.wraps(behavior)
        def guarded(request: Any, context: Any) -> Any:
            check(context, request if unary else None)
            return behavior(request, context)

        return guarded

    if handler.request_streaming and handler.response_streaming:
        factory, behavior = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    elif handler.request_streaming:
        factory, behavior = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    elif handler.response_streaming:
        factory, behavior = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    else:
        factory, behavior = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    return factory(
        wrap(behavior),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
