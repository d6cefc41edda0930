"""The client half of the Ray tests, run inside the cluster's network namespace.

``python -m tests.cluster.driver ACTION JSON`` does one SDK call against the
front-end on the namespace's loopback and prints one JSON object: the answer, or
``{"error": CODE}`` with the gRPC status code name. pytest (outside the
namespace) runs it with ``ip netns exec`` and asserts on what it prints.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any

import numpy as np

from vault.client import ClientError, ClusterClient, KeyAdminClient, VaultClient

PURPOSE = "access"


def _matches(result: Any) -> list[list[list[Any]]]:
    return [[[m.subject_id, m.score] for m in row] for row in result]


def act(action: str, a: dict[str, Any]) -> dict[str, Any]:
    target, timeout = a.get("target", "127.0.0.1:50051"), float(a.get("timeout", 60))
    if action == "metrics":
        with urllib.request.urlopen(f"http://{a['metrics']}/metrics", timeout=timeout) as r:
            return {"text": r.read().decode()}
    if action == "nodes":  # which node is the head (it carries the node_0 resource)
        import ray

        ray.init(address=a["ray"], log_to_driver=False, logging_level="ERROR")
        alive = [n for n in ray.nodes() if n["Alive"]]
        return {"nodes": [{"node": n["NodeID"], "head": "node_0" in n["Resources"]} for n in alive]}
    if action == "rotate":
        with KeyAdminClient(target, timeout=timeout) as kc:
            return {"key_version": kc.renew_transform_key(a["collection"]).key_version}
    if action == "status":
        with ClusterClient(target, timeout=timeout) as cc:
            return {"shards": [s.to_json() for s in cc.status()]}
    with VaultClient(target, timeout=timeout) as vc:
        if action == "create":
            vc.create_collection(
                a["collection"], mode=a.get("mode", "ckks"), dim=a["dim"],
                allow_identification=True, purposes=[PURPOSE],
                match_threshold=a.get("threshold", -1.0),
            )  # fmt: skip
            return {"created": a["collection"]}
        if action == "enroll":
            with open(a["ids"], encoding="utf-8") as f:
                ids = [line for line in f.read().split("\n") if line]
            n = vc.enroll(
                a["collection"], ids, np.load(a["templates"]), purpose=PURPOSE,
                consent_ref="C-1", legal_basis="consent",
            )  # fmt: skip
            return {"enrolled": n}
        if action == "identify":
            started = time.monotonic()
            found = vc.identify(
                a["collection"], np.load(a["probes"]), top_k=a["top_k"], purpose=PURPOSE
            )
            return {"results": _matches(found), "seconds": time.monotonic() - started}
        if action == "verify":
            v = vc.verify(a["collection"], a["id"], np.load(a["probe"]), purpose=PURPOSE)
            return {"match": v.match, "score": v.score}
        if action == "delete":
            return {"erased": vc.delete(a["collection"], a["id"], purpose=PURPOSE).erased}
    raise SystemExit(f"unknown action {action}")


def main() -> None:
    action, args = sys.argv[1], json.loads(sys.argv[2])
    try:
        out = act(action, args)
    except ClientError as e:
        out = {"error": e.code.name, "details": e.details}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
