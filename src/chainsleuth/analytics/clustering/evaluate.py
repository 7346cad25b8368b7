"""Measuring a clustering against ground truth (the simulator's `truth.json`).

Pairwise scores (as in Harrigan & Fretter 2016 and Möser & Narayanan 2022 §4.3): over
all pairs of addresses with a known owner, a pair is a true positive when both the
clustering and the truth put it in one entity. From the contingency table n_ij of
predicted cluster i by true owner j: TP = Σ C(n_ij, 2), predicted pairs = Σ C(a_i, 2),
true pairs = Σ C(b_j, 2). A false-merged cluster holds addresses of 2+ owners; the number
of false merges is Σ (owners in the cluster − 1), the unions a perfect tool would not make.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Scores:
    """Pairwise precision/recall/F1 and false-merge figures of one clustering."""

    addresses: int
    clusters: int
    owners: int
    precision: float
    recall: float
    f1: float
    false_merged_clusters: int
    false_merges: int
    largest_false_merge: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for output."""
        return asdict(self)


def _pairs(counts: npt.NDArray[np.int64]) -> int:
    return int((counts * (counts - 1) // 2).sum())


def pairwise(predicted: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> Scores:
    """Scores of labels `predicted` against owner labels `truth` (same addresses, same order)."""
    if predicted.shape != truth.shape:
        raise ValueError("predicted and truth labels must cover the same addresses")
    _, pred = np.unique(predicted, return_inverse=True)
    _, true = np.unique(truth, return_inverse=True)
    pred_sizes = np.bincount(pred)
    true_sizes = np.bincount(true)
    cell, cell_sizes = np.unique(
        pred.astype(np.int64) * (true.max(initial=0) + 1) + true, return_counts=True
    )
    tp, predicted_pairs, true_pairs = _pairs(cell_sizes), _pairs(pred_sizes), _pairs(true_sizes)
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    owners_per_cluster = np.bincount(cell // (true.max(initial=0) + 1), minlength=pred_sizes.size)
    mixed = owners_per_cluster >= 2
    return Scores(
        addresses=int(predicted.size),
        clusters=int(pred_sizes.size),
        owners=int(true_sizes.size),
        precision=round(precision, 6),
        recall=round(recall, 6),
        f1=round(f1, 6),
        false_merged_clusters=int(mixed.sum()),
        false_merges=int((owners_per_cluster[mixed] - 1).sum()),
        largest_false_merge=int(pred_sizes[mixed].max(initial=0)),
    )


def detection(flagged: set[str], truth: set[str]) -> dict[str, Any]:
    """Precision and recall of CoinJoin detection against the true CoinJoin txids."""
    hit = len(flagged & truth)
    return {
        "detected": len(flagged),
        "true_coinjoins": len(truth),
        "precision": round(hit / len(flagged), 6) if flagged else 1.0,
        "recall": round(hit / len(truth), 6) if truth else 1.0,
    }
