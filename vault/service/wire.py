"""Registration of the ``biovault.v1.TemplateVault`` handlers on a gRPC server.

This replaces the generated ``add_TemplateVaultServicer_to_server`` for one
reason: gRPC answers a request whose bytes do not parse with INTERNAL, but bad
input must be INVALID_ARGUMENT. Requests are therefore decoded tolerantly; bytes
that do not parse arrive at the servicer as a :class:`MalformedRequest`, which the
error boundary turns into :class:`vault.errors.InvalidArgument`. Method names and
message types come from the generated descriptor, so this stays in step with the
``.proto`` file without hand-written tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from vault.api.v1 import vault_pb2
from vault.errors import InvalidArgument

__all__ = ["SERVICE_NAME", "MalformedRequest", "add_service", "add_template_vault"]

_SERVICE = vault_pb2.DESCRIPTOR.services_by_name["TemplateVault"]
SERVICE_NAME: str = _SERVICE.full_name

_HANDLER_FACTORIES: dict[tuple[bool, bool], Callable[..., Any]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


@dataclass(frozen=True)
class MalformedRequest:
    """Stands in for a request message whose bytes did not parse."""

    message_name: str

    def error(self) -> InvalidArgument:
        """Describe the problem as the error the caller receives."""
        return InvalidArgument(f"request is not a valid {self.message_name} message")


def _tolerant_decoder(message_class: Any) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except DecodeError:
            return MalformedRequest(message_class.DESCRIPTOR.full_name)

    return decode


def add_template_vault(servicer: Any, server: grpc.Server) -> None:
    """Register every method of ``servicer`` under ``biovault.v1.TemplateVault``.

    Args:
        servicer: An object with one method per RPC, named as in the ``.proto``.
        server: The (not yet started) server to register on.
    """
    add_service(vault_pb2, "TemplateVault", servicer, server)


def add_service(module: Any, service: str, servicer: Any, server: grpc.Server) -> str:
    """Register ``servicer`` for service ``service`` of a generated ``*_pb2`` module,
    decoding requests tolerantly (see the module docstring).

    Returns:
        The fully-qualified service name.
    """
    descriptor = module.DESCRIPTOR.services_by_name[service]
    handlers = {}
    for method in descriptor.methods:
        request_class = getattr(module, method.input_type.name)
        response_class = getattr(module, method.output_type.name)
        factory = _HANDLER_FACTORIES[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(
            getattr(servicer, method.name),
            request_deserializer=_tolerant_decoder(request_class),
            response_serializer=response_class.SerializeToString,
        )
    name: str = descriptor.full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)
    return name
