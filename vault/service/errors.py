"""The one mapping from :mod:`vault.errors` classes to gRPC status codes.

Every RPC handler runs inside :func:`rpc_boundary`, so callers only ever see the
codes listed in :data:`STATUS_BY_ERROR`, or INTERNAL with a generic message for
anything unexpected - never UNKNOWN. Messages of mapped errors are passed on
(the error tree promises they hold no template values, scores or keys); anything
else is logged by type and stack only, so request payloads never reach a log.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

import grpc

from vault import deadline, errors
from vault.service.wire import MalformedRequest

__all__ = [
    "INTERNAL_DETAILS",
    "STATUS_BY_ERROR",
    "RpcStatus",
    "rpc_boundary",
    "status_code_for",
    "stream_boundary",
    "to_rpc_status",
]

_log = logging.getLogger(__name__)

#: Checked in order, so a subclass must come before its base class.
STATUS_BY_ERROR: Final[tuple[tuple[type[errors.VaultError], grpc.StatusCode], ...]] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),  # includes TemplateError
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    # A wrapped key the key service rejects as tampered is bad stored data, not an
    # outage: retrying cannot help, so it is reported like IntegrityError.
    (errors.WrappedKeyRejected, grpc.StatusCode.DATA_LOSS),
    (errors.KeyServiceError, grpc.StatusCode.UNAVAILABLE),  # includes KeyServiceUnavailable
    (errors.IntegrityError, grpc.StatusCode.DATA_LOSS),
    (errors.StorageError, grpc.StatusCode.UNAVAILABLE),
    (errors.EncryptionUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.ShardUnavailable, grpc.StatusCode.UNAVAILABLE),
)

INTERNAL_DETAILS: Final = "internal error; the service logged the incident"

_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


@dataclass(frozen=True)
class RpcStatus:
    """A status code and the details string sent to the caller."""

    code: grpc.StatusCode
    details: str


def status_code_for(error: BaseException) -> grpc.StatusCode:
    """Return the status code for ``error`` (INTERNAL if it is not mapped).

    Args:
        error: Any exception raised while handling a request.

    Returns:
        The gRPC status code the caller receives.
    """
    for error_class, code in STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return code
    return grpc.StatusCode.INTERNAL


def to_rpc_status(error: BaseException, *, method: str) -> RpcStatus:
    """Translate ``error`` into what the caller sees, logging unexpected ones.

    Args:
        error: The exception that ended the request.
        method: RPC name, for the log line.

    Returns:
        The status to abort the RPC with.
    """
    code = status_code_for(error)
    if code is not grpc.StatusCode.INTERNAL:
        details = " ".join(str(error).split()) or code.name.lower().replace("_", " ")
        return RpcStatus(code, details)
    # The message of an unexpected exception may quote request data, so only the
    # type and the stack go to the log.
    stack = "".join(traceback.format_tb(error.__traceback__))
    _log.error("%s failed with %s (message withheld)\n%s", method, type(error).__name__, stack)
    return RpcStatus(grpc.StatusCode.INTERNAL, INTERNAL_DETAILS)


def _abort(context: grpc.ServicerContext, status: RpcStatus) -> NoReturn:
    context.abort(status.code, status.details)
    raise AssertionError("grpc.ServicerContext.abort returned")  # pragma: no cover


def rpc_boundary(
    handler: Callable[[_Servicer, _Request, Any], _Response],
) -> Callable[[_Servicer, _Request, Any], _Response]:
    """Wrap an RPC handler so every failure leaves as one mapped status code.

    Args:
        handler: A servicer method ``(self, request_or_iterator, context)``.

    Returns:
        The guarded method.
    """
    method = handler.__name__

    @functools.wraps(handler)
    def guarded(self: _Servicer, request: _Request, context: Any) -> _Response:
        try:
            if isinstance(request, MalformedRequest):
                raise request.error()
            with deadline.bounded_by(context.time_remaining()):
                return handler(self, request, context)
        except Exception as error:  # the single boundary of every RPC
            if isinstance(error, grpc.RpcError) and not context.is_active():
                # The client went away mid-stream; there is nobody left to answer.
                status = RpcStatus(grpc.StatusCode.CANCELLED, "the client cancelled the request")
            else:
                status = to_rpc_status(error, method=method)
        _abort(context, status)

    return guarded


def stream_boundary(
    handler: Callable[[_Servicer, _Request, Any], Iterator[_Response]],
) -> Callable[[_Servicer, _Request, Any], Iterator[_Response]]:
    """:func:`rpc_boundary` for server-streaming handlers, whose errors may come mid-stream.

    Args:
        handler: A servicer generator method ``(self, request, context)``.

    Returns:
        The guarded generator method.
    """
    method = handler.__name__

    @functools.wraps(handler)
    def guarded(self: _Servicer, request: _Request, context: Any) -> Iterator[_Response]:
        try:
            if isinstance(request, MalformedRequest):
                raise request.error()
            with deadline.bounded_by(context.time_remaining()):
                yield from handler(self, request, context)
        except Exception as error:  # the single boundary of the stream
            status = to_rpc_status(error, method=method)
            context.abort(status.code, status.details)

    return guarded
