"""Transport security: server and client TLS settings and the one channel factory.

The server presents its certificate and requires from every client one signed
by the client CA (mutual TLS): a caller without one, or with one from another CA,
fails at the handshake and never reaches a handler (gRPC's Python API cannot
request a client certificate without requiring it). What a verified certificate
may do is the authorisation interceptor's decision (:mod:`vault.service.authz`).

Without TLS options, plaintext is allowed only on loopback addresses
(:func:`vault.service.addresses.require_plaintext_allowed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc

from vault.errors import ConfigurationError
from vault.service.addresses import require_plaintext_allowed, split_host_port

__all__ = ["ChannelClient", "ClientTls", "ServerTls", "open_channel"]


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.expanduser().read_bytes()
    except OSError as error:
        raise ConfigurationError(f"cannot read {what} {path}: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise ConfigurationError(f"{what} {path} is not a PEM file")
    return data


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate chain and key, and the CA that signs client certificates.

    Args:
        cert_file: PEM certificate (chain) of the server.
        key_file: PEM private key of the server.
        client_ca_file: PEM CA bundle that client certificates must chain to.
    """

    cert_file: Path
    key_file: Path
    client_ca_file: Path

    def credentials(self) -> grpc.ServerCredentials:
        """Load the files into gRPC server credentials (mutual TLS, client cert required).

        Raises:
            ConfigurationError: If a file is missing or not PEM.
        """
        return grpc.ssl_server_credentials(
            [(_read(self.key_file, "TLS key"), _read(self.cert_file, "TLS certificate"))],
            root_certificates=_read(self.client_ca_file, "client CA"),
            require_client_auth=True,
        )


@dataclass(frozen=True)
class ClientTls:
    """What a client needs for TLS: the CA of the server and, for mTLS, its own certificate.

    Args:
        ca_file: PEM CA bundle that verifies the server's certificate.
        cert_file: PEM client certificate (None: connect without one; a
            mutual-TLS server refuses the handshake).
        key_file: PEM private key of ``cert_file``.
        server_name: Name to check the server certificate against, when it
            differs from the target host (e.g. connecting by IP to a named host).
    """

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigurationError("a client certificate needs both --tls-cert and --tls-key")

    def credentials(self) -> grpc.ChannelCredentials:
        """Load the files into gRPC channel credentials.

        Raises:
            ConfigurationError: If a file is missing or not PEM.
        """
        key = _read(self.key_file, "TLS key") if self.key_file else None
        cert = _read(self.cert_file, "TLS certificate") if self.cert_file else None
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "CA file"),
            private_key=key,
            certificate_chain=cert,
        )


def open_channel(
    target: str,
    tls: ClientTls | None,
    *,
    options: Sequence[tuple[str, int | str]] = (),
) -> grpc.Channel:
    """Open a channel to ``target``: TLS if ``tls`` is given, else loopback plaintext.

    Args:
        target: ``HOST:PORT`` of the service.
        tls: TLS settings, or None for development-mode plaintext.
        options: gRPC channel options (message limits and the like).

    Returns:
        The channel.

    Raises:
        ConfigurationError: If ``target`` is malformed, or not loopback without TLS.
    """
    if tls is None:
        require_plaintext_allowed(target, role="connect to")
        return grpc.insecure_channel(target, options=list(options))
    split_host_port(target)
    channel_options = list(options)
    if tls.server_name:
        channel_options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.secure_channel(target, tls.credentials(), options=channel_options)


class ChannelClient:
    """Base of the service clients: one channel, a default deadline, context manager.

    Args:
        target: ``HOST:PORT`` of the service.
        tls: TLS settings, or None for development-mode loopback plaintext.
        timeout: Deadline of each call in seconds (None for none).
        options: gRPC channel options.
    """

    def __init__(
        self,
        target: str,
        tls: ClientTls | None,
        *,
        timeout: float | None,
        options: Sequence[tuple[str, int | str]] = (),
    ) -> None:
        self._timeout = timeout
        self._channel = open_channel(target, tls, options=options)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
