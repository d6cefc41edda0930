"""The operator's client of ``biovault.v1.ClusterAdmin``: where the gallery shards run.

Usage::

    from vault.client import ClusterClient

    with ClusterClient("127.0.0.1:50051") as cc:
        for shard in cc.status():
            print(shard.shard, shard.node, shard.pid, shard.templates, shard.state)
"""

from __future__ import annotations

import grpc

from vault.api.v1 import cluster_pb2, cluster_pb2_grpc
from vault.client.channel import ChannelClient, translated_errors
from vault.client.results import ShardStatus

__all__ = ["ClusterClient"]


class ClusterClient(ChannelClient):
    """A connection to a vault served over a Ray cluster (same arguments as VaultClient)."""

    def _connected(self, channel: grpc.Channel) -> None:
        self._stub = cluster_pb2_grpc.ClusterAdminStub(channel)

    def status(self) -> list[ShardStatus]:
        """Every shard's node, pid, templates and state (ALIVE, RESTARTING, DEAD).

        Raises:
            ClientError: FAILED_PRECONDITION when the vault runs without a cluster.
        """
        with translated_errors():
            reply = self._stub.GetClusterStatus(
                cluster_pb2.GetClusterStatusRequest(), timeout=self._timeout
            )
        return [
            ShardStatus(
                shard=s.shard,
                node=s.node,
                pid=s.pid,
                templates=s.templates,
                state=s.state,
                restarts=s.restarts,
                rss_bytes=s.rss_bytes,
                load_seconds=s.load_seconds,
            )
            for s in reply.shards
        ]
