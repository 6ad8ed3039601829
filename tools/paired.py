"""Paired comparisons of two methods over the same runs: wins, losses, ties and a Wilcoxon signed-rank p."""
from __future__ import annotations

import numpy as np
from scipy.stats import wilcoxon

# The two-sided exact p of n nonzero differences is at least 2 / 2**n: 0.0625 at n = 5, so fewer cannot reach 0.05.
MIN_PAIRS = 6


def paired_test(differences: np.ndarray, partner: str) -> tuple[float | None, str | None]:
    """(two-sided Wilcoxon signed-rank p of the paired differences, None), or (None, why there is none).

    ``partner`` names the method every difference is taken against (for the message when there is no pair).
    """
    if not len(differences):
        return None, f"no pair that {partner} finished too"
    nonzero = int(np.count_nonzero(differences))
    if not nonzero:
        return None, f"every paired VUS-PR difference is 0 ({len(differences)} ties): nothing to rank"
    if nonzero < MIN_PAIRS:
        return None, (f"{nonzero} of {len(differences)} pairs differ, fewer than {MIN_PAIRS}: "
                      f"the smallest two-sided p they allow is {2 / 2**nonzero:.3g}")
    return float(wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue), None


def wins_losses_ties(differences: np.ndarray) -> tuple[int, int, int]:
    """How many differences are positive, negative and exactly zero."""
    return int((differences > 0).sum()), int((differences < 0).sum()), int((differences == 0).sum())
