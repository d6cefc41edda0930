"""Run ``biovault bench --ray-address --shards N`` against a local Ray cluster of 1 or 2 nodes.

The cluster and the bench both run in a fresh loopback-only network namespace
(tests/support/ray_cluster.py), so Ray binds 127.0.0.1 only::

    python -m benchmarks.sharded_bench --nodes 2 --gallery 100000 --json docs/perf/x.json

Everything started is stopped by process group and pid, and the namespace deleted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.support.ray_cluster import BIN, RayNetns, start_cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--gallery", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    netns = RayNetns.create()
    try:
        # The same 2 cores either way: one node with both, or two nodes with one each.
        cluster = start_cluster(netns, nodes=args.nodes, cpus_per_node=2 // args.nodes or 1)
        print(f"{args.nodes}-node cluster up in {cluster.startup_seconds:.1f} s", flush=True)
        out = netns.temp_dir / "bench.json"
        started = time.monotonic()
        done = netns.run(
            BIN / "biovault", "bench", "--gallery", args.gallery, "--dim", args.dim,
            "--probes", args.probes, "--batch", args.batch, "--shards", args.shards,
            "--ray-address", cluster.address, "--json", out, timeout=7200,
        )  # fmt: skip
        sys.stderr.write(done.stderr[-4000:])
        if done.returncode != 0:
            return done.returncode
        result = json.loads(out.read_text())
        result["cluster_startup_seconds"] = cluster.startup_seconds
        result["bench_wall_seconds"] = time.monotonic() - started
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(done.stdout.strip())
        return 0
    finally:
        netns.destroy()


if __name__ == "__main__":
    raise SystemExit(main())
