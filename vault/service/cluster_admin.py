"""The ``biovault.v1.ClusterAdmin`` servicer (its client is :mod:`vault.client.cluster`).

Translation only: one call of the status function the service was wired with
(vault.cluster.ShardCluster.status), encoded; without a cluster the call is
refused with FAILED_PRECONDITION through the single error mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from vault.api.v1 import cluster_pb2, cluster_pb2_grpc
from vault.errors import FailedPrecondition
from vault.service.errors import rpc_boundary
from vault.service.wire import add_service

__all__ = ["add_cluster_admin"]


class ClusterAdminServicer(cluster_pb2_grpc.ClusterAdminServicer):
    """Serves ``ClusterAdmin`` from a status function (None: no cluster)."""

    def __init__(self, status: Callable[[], list[Any]] | None) -> None:
        self._status = status

    @rpc_boundary
    def GetClusterStatus(
        self, request: cluster_pb2.GetClusterStatusRequest, context: Any
    ) -> cluster_pb2.ClusterStatus:
        """Every shard's node, pid, templates and state."""
        if self._status is None:
            raise FailedPrecondition("this vault runs without a cluster (serve --ray-address)")
        return cluster_pb2.ClusterStatus(
            shards=[
                cluster_pb2.ShardStatus(
                    shard=s.shard,
                    node=s.node,
                    pid=s.pid,
                    templates=s.templates,
                    state=s.state,
                    restarts=s.restarts,
                    rss_bytes=s.rss_bytes,
                    load_seconds=s.load_seconds,
                )
                for s in self._status()
            ]
        )


def add_cluster_admin(status: Callable[[], list[Any]] | None, server: grpc.Server) -> str:
    """Register the ClusterAdmin service; returns its full name."""
    return add_service(cluster_pb2, "ClusterAdmin", ClusterAdminServicer(status), server)
