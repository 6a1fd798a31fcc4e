"""Picks against known particle centres: one-to-one matching, precision and recall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Match:
    """How many picks matched a true centre, of how many picks and true centres."""

    matched: int
    picks: int
    truths: int

    @property
    def precision(self) -> float:
        return self.matched / self.picks if self.picks else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truths if self.truths else 1.0


def match_picks(picks_xy: np.ndarray, truth_xy: np.ndarray, max_distance_px: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(pick index, truth index)`` of a one-to-one matching within
    ``max_distance_px`` that matches as many as possible (nearest among those)."""
    picks_xy = np.asarray(picks_xy, dtype=np.float64).reshape(-1, 2)
    truth_xy = np.asarray(truth_xy, dtype=np.float64).reshape(-1, 2)
    empty = np.zeros(0, dtype=np.int64)
    if not len(picks_xy) or not len(truth_xy):
        return empty, empty
    near = cKDTree(picks_xy).sparse_distance_matrix(cKDTree(truth_xy), max_distance_px,
                                                    output_type="coo_matrix")
    if near.nnz == 0:
        return empty, empty
    # Every pair within reach costs less than leaving both unmatched, so the optimum
    # matches as many as possible and, among those, the nearest.
    forbidden = 2.0 * max_distance_px * (len(picks_xy) + len(truth_xy)) + 1.0
    cost = np.full((len(picks_xy), len(truth_xy)), forbidden)
    cost[near.row, near.col] = near.data
    rows, cols = linear_sum_assignment(cost)
    good = cost[rows, cols] < forbidden
    return rows[good], cols[good]


def score_picks(picks_xy: np.ndarray, truth_xy: np.ndarray, max_distance_px: float
                ) -> Match:
    """Precision and recall of ``picks_xy`` against ``truth_xy`` (one-to-one)."""
    rows, _ = match_picks(picks_xy, truth_xy, max_distance_px)
    return Match(int(rows.size), int(np.asarray(picks_xy).reshape(-1, 2).shape[0]),
                 int(np.asarray(truth_xy).reshape(-1, 2).shape[0]))


__all__ = ["Match", "match_picks", "score_picks"]
