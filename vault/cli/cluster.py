"""``biovault cluster status``: where the gallery shards of a Ray-served vault run.

Prints one line per shard; ``--json`` writes the contract's
``{"shards": [{"shard", "node", "pid", "templates", "state"}, ...]}`` (plus each
shard's restarts, resident memory and last load time).
"""

from __future__ import annotations

import argparse

from vault.cli.common import Commands, add_client_flags, add_json_flag, client_tls, write_json
from vault.client import ClusterClient

__all__ = ["register"]


def register(commands: Commands) -> None:
    """Add the ``cluster`` command group."""
    group = commands.add_parser(
        "cluster",
        help="gallery shards of a vault served over a Ray cluster",
        description="Inspect the shard actors of a vault started with "
        "`serve --ray-address ... --shards N`.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser(
        "status",
        help="show each shard's node, pid, templates and state",
        description="Show every shard: the Ray node it runs on, its process id, the "
        "templates it holds and its state (ALIVE, RESTARTING, DEAD).",
    )
    add_client_flags(status)
    add_json_flag(status)
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    with ClusterClient(args.target, timeout=args.timeout, tls=client_tls(args)) as client:
        shards = client.status()
    if args.json:
        write_json(args.json, {"shards": [s.to_json() for s in shards]})
    if args.json != "-":
        for s in shards:
            print(
                f"shard {s.shard}: {s.state} pid {s.pid} on node {s.node[:12] or '-'}, "
                f"{s.templates} templates, {s.rss_bytes / 2**20:.0f} MiB, "
                f"{s.restarts} restart(s)"
            )
    return 0
