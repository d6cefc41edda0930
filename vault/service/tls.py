"""Server-side transport security: the server's certificate and the client CA.

The server presents its certificate and requires from every client one signed
by the client CA (mutual TLS): a caller without one, or with one from another CA,
fails at the handshake and never reaches a handler (gRPC's Python API cannot
request a client certificate without requiring it). What a verified certificate
may do is the authorisation interceptor's decision (:mod:`vault.service.authz`).
The client side lives in :mod:`vault.client.channel`.

Without TLS options, plaintext is allowed only on loopback addresses
(:func:`vault.transport.require_plaintext_allowed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from vault.transport import read_pem

__all__ = ["ServerTls"]


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
            [(read_pem(self.key_file, "TLS key"), read_pem(self.cert_file, "TLS certificate"))],
            root_certificates=read_pem(self.client_ca_file, "client CA"),
            require_client_auth=True,
        )
