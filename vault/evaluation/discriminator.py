"""The learned orbit attack: a classifier that tells a real face from its orbit's other members.

Threat model (ISO/IEC 24745 full disclosure): the attacker holds the collection's
transform key Q, every stored row, the public embedding profile and embeddings of
other people made by the same face model. With Q he can make, for any face c of his
own, exactly the candidate set a stored row gives him: ``Q^T h Q c`` for every h of
the salt group - c itself (h = identity) and K - 1 other members. So he can train a
classifier on labelled examples of the very decision he faces: "real face" (c) or
"another orbit member" (``Q^T h Q c``, h random). On a victim's stored row he scores
all K candidates and submits the one it finds most real.

This is a strictly stronger version of ``population_prior``: a Gaussian sees only
first and second moments, which whitening equalises; a classifier can use whatever
else tells faces apart from rotated-and-salted faces - heavy tails along the
directions the face model uses, clusters, non-linear dependencies.

The classifier is scikit-learn's MLP (one hidden layer, early stopping) on
standardised features: the candidate in the space the orbit acts on and, with a
profile, the same candidate mapped back to template space.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vault.errors import InvalidArgument
from vault.schemes.orbit import apply_group

__all__ = ["DISCRIMINATOR_FACES", "NEGATIVES_PER_FACE", "Discriminator", "train_discriminator"]

#: Attacker faces the classifier is trained on at most (each gives one positive).
DISCRIMINATOR_FACES = 1500
#: Orbit members of each attacker face used as negatives.
NEGATIVES_PER_FACE = 6
_HIDDEN = 128
_EPOCHS = 60
TemplateMap = Callable[[np.ndarray], np.ndarray]


def _sklearn() -> Any:
    try:
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as error:  # an optional dependency of the evaluation only
        raise InvalidArgument(
            "the discriminator attack needs scikit-learn: pip install 'biovault[evaluate]'"
        ) from error
    return MLPClassifier, make_pipeline, StandardScaler


def _members(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random non-identity member of each row's orbit (in the rotated domain)."""
    count, dim = rows.shape
    while True:
        shifts = np.asarray(rng.integers(0, dim, count))
        reverse = rng.integers(0, 2, count).astype(bool)
        signs = rng.choice(np.array([-1.0, 1.0]), count)
        identity = (shifts == 0) & ~reverse & (signs > 0)
        if not identity.any():
            return apply_group(rows, shifts, reverse, signs)
        rng = np.random.default_rng(rng.integers(1 << 62))


@dataclass(frozen=True)
class Discriminator:
    """A trained real-versus-orbit-member classifier; higher scores are more face-like."""

    model: Any
    to_template: TemplateMap | None

    def features(self, candidates: np.ndarray, faces: np.ndarray | None = None) -> np.ndarray:
        """What the classifier sees of orbit-space unit rows (``faces``: the same rows
        already mapped to template space, which saves mapping them again)."""
        if self.to_template is None:
            return candidates.astype(np.float32)
        mapped = self.to_template(candidates) if faces is None else faces
        return np.hstack([candidates, mapped]).astype(np.float32)

    def score(self, candidates: np.ndarray, faces: np.ndarray | None = None) -> np.ndarray:
        """Probability (a monotone map of the log-odds) that each candidate is a real face."""
        return np.asarray(self.model.predict_proba(self.features(candidates, faces))[:, 1])


def train_discriminator(
    faces: np.ndarray,
    rotation: np.ndarray,
    rng: np.random.Generator,
    *,
    to_template: TemplateMap | None = None,
    max_faces: int = DISCRIMINATOR_FACES,
    negatives: int = NEGATIVES_PER_FACE,
) -> Discriminator:
    """Train on the attacker's own faces: each real, each next to its orbit members.

    Args:
        faces: The attacker's unit rows in the space the orbit acts on (whitened
            with the public profile when the collection has one).
        rotation: The keyed rotation Q (held by the attacker).
        rng: Randomness of the sample and of the negatives.
        to_template: Maps orbit-space rows back to unit templates (the profile's
            inverse), for the classifier's second view of each candidate.
        max_faces: Faces used at most.
        negatives: Orbit members per face used as negatives.
    """
    mlp, make_pipeline, scaler = _sklearn()
    if len(faces) > max_faces:
        faces = faces[rng.choice(len(faces), max_faces, replace=False)]
    rotated = faces @ rotation.T  # u = Q c, where the salt group acts
    fakes = np.concatenate([_members(rotated, rng) for _ in range(negatives)]) @ rotation
    # Balanced classes: with 1 real to `negatives` fakes, early stopping on accuracy
    # stops at "everything is fake" before anything is learned.
    x = np.concatenate([np.repeat(faces, negatives, axis=0), fakes])
    y = np.concatenate([np.ones(len(fakes)), np.zeros(len(fakes))])
    model = make_pipeline(
        scaler(),
        mlp(
            hidden_layer_sizes=(_HIDDEN,),
            alpha=0.1,
            early_stopping=True,
            max_iter=_EPOCHS,
            random_state=int(rng.integers(1 << 31)),
        ),
    )
    untrained = Discriminator(model, to_template)
    with warnings.catch_warnings():  # stopping at _EPOCHS is a budget, not a failure
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(untrained.features(x), y)
    return untrained
