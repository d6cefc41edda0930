"""CollectionPolicy: one type, one JSON form, one wire form, parsed once per collection."""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3

import numpy as np
import pytest

from tests.support.synthetic import identities
from vault.api.policy import decode_policy, encode_policy
from vault.api.v1 import vault_pb2
from vault.cli.main import build_parser
from vault.client import codec as client_codec
from vault.errors import IntegrityError, InvalidArgument
from vault.service import codec as server_codec
from vault.types import (
    DEFAULT_RETENTION_SECONDS,
    CollectionPolicy,
    CollectionSpec,
    ProtectionMode,
    RequestContext,
)

DIM = 16
CTX = RequestContext(actor="tester", purpose="access", consent_ref="c", legal_basis="consent")
TUNED = CollectionPolicy(
    retention_seconds=86_400.0, score_decimals=4, max_top_k=3, decision_only=True
)
# A config_json exactly as the code before CollectionPolicy wrote it.
OLD_LAYOUT = (
    '{"disclosure": {"decision_only": true, "max_top_k": 3, "score_decimals": 4}, '
    '"retention_seconds": 86400.0}'
)


def test_json_round_trip_keeps_every_knob_and_the_old_layout() -> None:
    """to_json then from_json is the identity; the stored layout is the one older code wrote."""
    assert CollectionPolicy.from_json(TUNED.to_json()) == TUNED
    assert TUNED.to_json() == OLD_LAYOUT
    assert CollectionPolicy.from_json(CollectionPolicy().to_json()) == CollectionPolicy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", CollectionPolicy()),
        ("{}", CollectionPolicy()),
        (OLD_LAYOUT, TUNED),
        ('{"retention_seconds": 5}', CollectionPolicy(retention_seconds=5.0)),
        ('{"block_size": 4, "future": {"knob": 1}}', CollectionPolicy()),
        ('{"disclosure": {"max_top_k": 7}}', CollectionPolicy(max_top_k=7)),
    ],
)
def test_old_and_unknown_json_still_parses(text: str, expected: CollectionPolicy) -> None:
    """Collections stored before a knob existed get its default; unknown keys are ignored."""
    assert CollectionPolicy.from_json(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "[1]",
        "not json",
        '{"retention_seconds": true}',
        '{"retention_seconds": -1}',
        '{"disclosure": {"score_decimals": "2"}}',
        '{"disclosure": {"decision_only": 1}}',
        '{"disclosure": {"max_top_k": 5000}}',
        '{"disclosure": []}',
    ],
)
def test_a_malformed_stored_policy_is_an_integrity_error(text: str) -> None:
    """A stored policy of the wrong shape, type or range is refused, not guessed at."""
    with pytest.raises(IntegrityError):
        CollectionPolicy.from_json(text)


def test_to_json_keeps_other_keys_of_the_base() -> None:
    """Writing the policy into an existing config keeps what else it holds."""
    assert '"block_size": 4' in TUNED.to_json('{"block_size": 4}')


def test_check_refuses_out_of_range_knobs() -> None:
    """Bounds are checked in one place, with the messages callers saw before."""
    for bad, message in [
        (CollectionPolicy(retention_seconds=0.0), "retention"),
        (CollectionPolicy(retention_seconds=float("inf")), "finite"),
        (CollectionPolicy(score_decimals=7), "decimals"),
        (CollectionPolicy(max_top_k=0), "top-k"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            bad.check()
    assert TUNED.check() is TUNED
    with pytest.raises(InvalidArgument, match="unknown"):
        CollectionPolicy.of(no_such_knob=1)


def test_wire_round_trip_and_older_peers() -> None:
    """The nested message carries every knob; flat fields still work both ways."""
    assert decode_policy(vault_pb2.CreateCollectionRequest(policy=encode_policy(TUNED))) == TUNED
    spec = CollectionSpec("c", ProtectionMode.CKKS, 4, purposes=("access",), policy=TUNED)
    request = client_codec.encode_collection_spec(spec)
    assert (request.max_top_k, request.decision_only) == (3, True)  # an old server reads these
    assert server_codec.decode_collection_spec(request) == spec
    old_client = vault_pb2.CreateCollectionRequest(
        name="c", mode=vault_pb2.PROTECTION_MODE_CKKS, dim=4, max_top_k=3, decision_only=True
    )
    assert server_codec.decode_collection_spec(old_client).policy == CollectionPolicy(
        max_top_k=3, decision_only=True
    )
    old_server = vault_pb2.Collection(
        name="c", mode=vault_pb2.PROTECTION_MODE_CKKS, dim=4, retention_seconds=60.0,
        score_decimals=1, max_top_k=5, decision_only=False,
    )  # fmt: skip
    assert client_codec.decode_collection(old_server).policy == CollectionPolicy(60.0, 1, 5)


def test_every_knob_has_a_cli_flag_and_a_proto_field() -> None:
    """The three places a knob is declared agree on its name (type, CLI dest, proto)."""
    names = {f.name for f in dataclasses.fields(CollectionPolicy)}
    assert names <= set(vault_pb2.CollectionPolicy.DESCRIPTOR.fields_by_name)
    create = build_parser().parse_args(
        ["collection", "create", "--name", "c", "--mode", "ckks", "--dim", "4",
         "--purposes", "access"]
    )  # fmt: skip
    assert isinstance(create, argparse.Namespace)
    assert names <= set(vars(create))
    assert CollectionPolicy.of(**{n: getattr(create, n) for n in names}) == CollectionPolicy()


def test_a_collection_policy_is_parsed_once_not_per_request(
    make_core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Create parses the stored policy once as it loads; verify and identify parse nothing."""
    parses = []
    original = CollectionPolicy.from_json.__func__  # type: ignore[attr-defined]

    def counting(cls, text):
        parses.append(text)
        return original(cls, text)

    monkeypatch.setattr(CollectionPolicy, "from_json", classmethod(counting))
    core = make_core()
    policy = CollectionPolicy(score_decimals=1, max_top_k=2)
    spec = CollectionSpec(
        "faces", ProtectionMode.CKKS, DIM, True, ("access",), -1.0, policy=policy
    )
    info = core.create_collection(spec, CTX)
    assert info.policy == policy and len(parses) == 1
    templates = identities(5, DIM, np.random.default_rng(1)).astype(np.float32)
    core.enroll("faces", [f"p{i}" for i in range(5)], templates, CTX)
    before = len(parses)
    result = core.verify("faces", "p1", templates[1], CTX)
    rows = core.identify("faces", templates[:2], 5, CTX)
    core.get_collection("faces", CTX)
    assert len(parses) == before == 1
    assert result.score == round(result.score, 1)  # the cached policy was applied
    assert [len(r) for r in rows] == [2, 2] and rows.top_k_capped
    reopened = make_core()  # a restart parses each collection once more, as it loads
    assert reopened.get_collection("faces", CTX).policy == policy and len(parses) == 2


def test_default_retention_is_the_bipa_bound() -> None:
    """The default policy keeps templates three years."""
    assert CollectionPolicy().retention_seconds == DEFAULT_RETENTION_SECONDS == 3 * 365 * 86_400


def test_a_tampered_stored_policy_fails_only_its_collection(make_core, tmp_path) -> None:
    """A malformed stored policy refuses that collection's requests; the others serve."""
    core = make_core()
    for name in ("good", "bad"):
        spec = CollectionSpec(name, ProtectionMode.CKKS, DIM, True, ("access",))
        core.create_collection(spec, CTX)
    templates = identities(2, DIM, np.random.default_rng(2)).astype(np.float32)
    core.enroll("good", ["a", "b"], templates, CTX)
    with sqlite3.connect(tmp_path / "vault.db") as db:
        tampered = '{"retention_seconds": "x"}'
        db.execute("UPDATE collections SET config_json = ? WHERE name = 'bad'", (tampered,))
    reopened = make_core()
    assert reopened.verify("good", "a", templates[0], CTX).match
    with pytest.raises(IntegrityError, match="retention_seconds"):
        reopened.verify("bad", "a", templates[0], CTX)
    with pytest.raises(IntegrityError):
        reopened.get_collection("bad", CTX)
