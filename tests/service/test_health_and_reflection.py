"""Standard health checking follows the core's readiness; reflection lists the services."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.service.fakes import FakeVault, Served
from vault.client import ClientError, VaultClient
from vault.errors import KeyServiceUnavailable

SERVICE = "biovault.v1.TemplateVault"


def _eventually(client: VaultClient, status: str, service: str = "") -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if client.health_check(service) == status:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("service", ["", SERVICE])
def test_serving_core_reports_serving(client: VaultClient, service: str) -> None:
    """Overall health and the named service are SERVING while the core serves."""
    assert client.health_check(service) == "SERVING"


def test_status_follows_the_core_both_ways(client: VaultClient, fake: FakeVault) -> None:
    """The background refresh turns NOT_SERVING when the core stops serving, and back."""
    fake.serving = False
    assert _eventually(client, "NOT_SERVING")
    assert _eventually(client, "NOT_SERVING", SERVICE)
    fake.serving = True
    assert _eventually(client, "SERVING")


def test_a_failing_readiness_probe_means_not_serving(client: VaultClient, fake: FakeVault) -> None:
    """If is_serving() itself raises, health reports NOT_SERVING instead of crashing."""
    fake.serving = False
    fake.fail_with = KeyServiceUnavailable("vault sealed")
    assert _eventually(client, "NOT_SERVING")
    assert _recovers(fake, client)


def _recovers(fake: FakeVault, client: VaultClient) -> bool:
    """Recovering the core brings SERVING back, proving the refresh thread lived on."""
    fake.fail_with = None
    fake.serving = True
    return _eventually(client, "SERVING")


def test_unknown_service_name_is_not_found(client: VaultClient) -> None:
    """Asking about a service the server does not run gives NOT_FOUND."""
    with pytest.raises(ClientError) as caught:
        client.health_check("no.such.Service")
    assert caught.value.code is grpc.StatusCode.NOT_FOUND


def test_close_turns_health_not_serving_for_good(live: Served, client: VaultClient) -> None:
    """After close() (graceful shutdown) the status stays NOT_SERVING even if the core serves."""
    live.health.close()
    assert client.health_check() == "NOT_SERVING"
    live.health.refresh()
    assert client.health_check() == "NOT_SERVING"


def test_health_uses_the_standard_protocol(live: Served) -> None:
    """A plain grpc.health.v1 client (as used by load balancers) sees SERVING."""
    with grpc.insecure_channel(live.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_vault_health_and_reflection(live: Served) -> None:
    """Server reflection advertises the vault, health and reflection services."""
    with grpc.insecure_channel(live.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
