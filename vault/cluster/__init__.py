"""Scale-out over a Ray cluster: sharded encrypted galleries (the only ray importer).

Importing this package needs the optional extra ``biovault[cluster]``.
"""

from vault.cluster.engine import ShardCluster, ShardedEngine, ShardStatus

__all__ = ["ShardCluster", "ShardStatus", "ShardedEngine"]
