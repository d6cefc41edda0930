"""Signed notes and checkpoints: Go sumdb/note and sum.golang.org known answers, strictness."""

import base64
import copy
import json
import pickle
from pathlib import Path

import pytest

from vault.audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from vault.audit.note import NoteError, NoteSigner, NoteVerifier

NOTES = json.loads((Path(__file__).parent / "vectors" / "signed_notes.json").read_text())
GO = NOTES["go_sumdb_note"]
SUMDB = NOTES["sum_golang_org_checkpoint"]


def _go_signer() -> NoteSigner:
    _, _, name, _, encoded = GO["signer_key"].split("+", 4)
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01  # Ed25519
    return NoteSigner.unsafe_from_seed(name, raw[1:])


def test_signing_reproduces_go_sumdb_note_byte_for_byte():
    """Ed25519 over the text, key id and line layout equal Go's TestSign answer."""
    signer = _go_signer()
    assert signer.verifier_key == GO["verifier_key"]
    assert signer.sign(GO["text"]) == GO["signed_note"]


def test_go_note_verifies_and_other_keys_are_refused_or_ignored():
    """A note verifies; strict mode refuses a foreign signature, lenient mode ignores it."""
    verifier = NoteVerifier(GO["verifier_key"])
    assert verifier.open(GO["signed_note"]) == GO["text"]
    both = GO["signed_note"] + GO["other_signature_line"]
    with pytest.raises(NoteError, match="other than"):
        verifier.open(both)
    assert verifier.open(both, only_this_key=False) == GO["text"]
    with pytest.raises(NoteError, match="not signed"):
        NoteVerifier(GO["other_verifier_key"]).open(GO["signed_note"], only_this_key=False)


def test_real_sum_golang_org_checkpoint():
    """A checkpoint signed by the Go checksum database verifies and parses."""
    text = NoteVerifier(SUMDB["verifier_key"]).open(SUMDB["signed_note"], only_this_key=False)
    checkpoint = Checkpoint.parse(text)
    assert (checkpoint.origin, checkpoint.size) == (SUMDB["origin"], SUMDB["size"])
    assert base64.b64encode(checkpoint.root).decode() == SUMDB["root"]


def test_mangled_verifier_keys_are_refused():
    """Every truncation and every one-character change of a verifier key is refused."""
    key = GO["verifier_key"]
    for cut in range(1, len(key)):
        with pytest.raises(NoteError):
            NoteVerifier(key[:cut])
    for i in range(len(key)):
        changed = key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :]
        with pytest.raises(NoteError):
            NoteVerifier(changed)


def test_every_byte_of_a_signed_note_is_covered():
    """Flipping any bit of a signed note makes verification fail."""
    verifier = NoteVerifier(GO["verifier_key"])
    raw = GO["signed_note"].encode()
    for offset in range(len(raw)):
        for bit in (0, 5):
            changed = bytearray(raw)
            changed[offset] ^= 1 << bit
            with pytest.raises(NoteError):
                verifier.open(bytes(changed))


def test_non_canonical_base64_signature_is_refused():
    """A signature whose base64 differs only in unused bits does not pass."""
    note = GO["signed_note"]
    line_start = note.rindex("\u2014")
    encoded = note[line_start:].split(" ")[2].strip()
    assert encoded.endswith("=")
    last = encoded[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sibling = alphabet[alphabet.index(last) ^ 1]  # same decoded bytes, other unused bits
    assert base64.b64decode(encoded[:-2] + sibling + "=") == base64.b64decode(encoded)
    forged = note.replace(encoded, encoded[:-2] + sibling + "=")
    with pytest.raises(NoteError, match="canonical"):
        NoteVerifier(GO["verifier_key"]).open(forged)


def test_checkpoint_round_trip_and_origin_binding():
    """Our checkpoints sign and open; the origin must be the key's name."""
    signer = NoteSigner.generate("example.org/log")
    checkpoint = Checkpoint("example.org/log", 42, bytes(range(32)))
    note = sign_checkpoint(signer, checkpoint)
    assert note.startswith("example.org/log\n42\nAAECAwQF")
    assert open_checkpoint(NoteVerifier(signer.verifier_key), note) == checkpoint
    other = NoteSigner.generate("example.org/other")
    with pytest.raises(ValueError):
        sign_checkpoint(other, checkpoint)
    foreign = other.sign(Checkpoint("example.org/log", 1, bytes(32)).text())
    with pytest.raises(NoteError, match="not the key's log"):
        open_checkpoint(NoteVerifier(other.verifier_key), foreign)


@pytest.mark.parametrize(
    "text",
    [
        "o\n042\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAA\n",  # not 32 bytes
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nextension\n",
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
def test_malformed_checkpoints_are_refused(text):
    """Leading zeros, short roots, extension lines, empty origins are refused."""
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_signer_hides_and_guards_its_key():
    """The signer's repr shows no key; it cannot be pickled or copied."""
    signer = NoteSigner.generate("example.org/log")
    assert signer.unsafe_seed().hex() not in repr(signer)
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            attempt(signer)
    with pytest.raises(TypeError):
        NoteSigner(object(), "x", bytes(32))
