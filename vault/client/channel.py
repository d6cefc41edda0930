"""The client side of transport security, the one channel factory and the error of a call.

A client speaks TLS when it is given the CA that signs the service's certificate
(``ca_file=``) and, for a mutual-TLS service, its own certificate and key
(``cert_file=``, ``key_file=``). Without them it connects in plaintext, which is
allowed only to loopback addresses (:func:`vault.transport.require_plaintext_allowed`).
Every gRPC failure of a call leaves the SDK as one :class:`ClientError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import grpc

from vault.errors import ConfigurationError
from vault.transport import read_pem, require_plaintext_allowed, split_host_port

__all__ = [
    "DEFAULT_CLIENT_MAX_MESSAGE_BYTES",
    "DEFAULT_TIMEOUT",
    "ChannelClient",
    "ClientError",
    "ClientTls",
    "client_error",
    "open_channel",
    "translated_errors",
]

#: Default deadline of a call in seconds.
DEFAULT_TIMEOUT: Final = 300.0
#: Default largest message a client sends or receives (big enrollments, bundles).
DEFAULT_CLIENT_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024

PathLike = str | Path


class ClientError(Exception):
    """A call failed; ``code`` is the gRPC status, ``details`` the server's message.

    Args:
        code: The status code.
        details: One line explaining the failure.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def client_error(error: grpc.RpcError) -> ClientError:
    """The :class:`ClientError` for a failed call (status code and one-line details)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = " ".join(str(error.details() if hasattr(error, "details") else error).split())
    return ClientError(code, details or code.name.lower())


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Within the block, a gRPC failure is raised as :class:`ClientError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise client_error(error) from None


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
            raise ConfigurationError(
                "a client certificate needs both its certificate and its key file "
                "(cert_file= and key_file=; --tls-cert and --tls-key)"
            )

    @classmethod
    def from_files(
        cls,
        *,
        ca_file: PathLike | None,
        cert_file: PathLike | None = None,
        key_file: PathLike | None = None,
        server_name: str | None = None,
    ) -> ClientTls | None:
        """The settings for the SDK's TLS keywords (None: no TLS asked for).

        Raises:
            ConfigurationError: If a client certificate is given without ``ca_file``,
                or one of ``cert_file`` / ``key_file`` without the other.
        """
        if ca_file is None:
            if cert_file is not None or key_file is not None or server_name is not None:
                raise ConfigurationError(
                    "cert_file, key_file and server_name need ca_file (the service's CA)"
                )
            return None
        return cls(
            ca_file=Path(ca_file),
            cert_file=None if cert_file is None else Path(cert_file),
            key_file=None if key_file is None else Path(key_file),
            server_name=server_name,
        )

    def credentials(self) -> grpc.ChannelCredentials:
        """Load the files into gRPC channel credentials.

        Raises:
            ConfigurationError: If a file is missing or not PEM.
        """
        key = read_pem(self.key_file, "TLS key") if self.key_file else None
        cert = read_pem(self.cert_file, "TLS certificate") if self.cert_file else None
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.ca_file, "CA file"),
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
    """Base of the SDK's clients: one channel, a default deadline, context manager.

    Every client takes the same arguments; a subclass makes its stubs in
    :meth:`_connected`.

    Args:
        target: ``HOST:PORT`` of the service; must be loopback without TLS.
        ca_file: PEM CA bundle that verifies the service's certificate; turns TLS on.
        cert_file: PEM client certificate naming the caller's role (mutual TLS;
            needs ``key_file``).
        key_file: PEM private key of ``cert_file``.
        server_name: Name to check the service's certificate against, if not the host.
        tls: The same settings as one value (instead of the file keywords).
        timeout: Deadline of each call, or of a whole stream, in seconds (None: none).
        max_message_bytes: Largest message the channel sends or receives.

    Raises:
        ConfigurationError: If ``target`` is malformed, not loopback without TLS,
            a TLS file is unreadable, or ``tls`` and the file keywords are mixed.
    """

    def __init__(
        self,
        target: str,
        *,
        ca_file: PathLike | None = None,
        cert_file: PathLike | None = None,
        key_file: PathLike | None = None,
        server_name: str | None = None,
        tls: ClientTls | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_message_bytes: int = DEFAULT_CLIENT_MAX_MESSAGE_BYTES,
    ) -> None:
        from_keywords = ClientTls.from_files(
            ca_file=ca_file, cert_file=cert_file, key_file=key_file, server_name=server_name
        )
        if tls is not None and from_keywords is not None:
            raise ConfigurationError("give either tls= or ca_file=/cert_file=/key_file=, not both")
        self._timeout = timeout
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        self._channel = open_channel(target, tls or from_keywords, options=options)
        self._connected(self._channel)

    def _connected(self, channel: grpc.Channel) -> None:
        """Make the stubs of the services this client calls (a subclass's hook)."""

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
