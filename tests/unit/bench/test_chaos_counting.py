"""The fault matrix's "out of order": the fewest answers that would have to move."""

from __future__ import annotations

import pytest

from bench.chaos_trial import out_of_order


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ([1, 2, 3, 4], 0),  # in order
        ([1, 2, 4], 0),  # one lost: not out of order
        ([1, 1, 2, 3, 4], 0),  # one doubled: its first answer counts
        ([2, 1, 3, 4], 1),  # two swapped
        ([4, 1, 2, 3], 1),  # the last answered first
        ([4, 3, 2, 1], 3),  # all reversed
    ],
)
def test_out_of_order_counts_the_answers_that_would_have_to_move(
    shown: list[int], expected: int
) -> None:
    assert out_of_order([1, 2, 3, 4], shown) == expected
