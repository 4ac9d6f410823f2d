"""Layer groups from layer_resolutions, and combining target and swapped codes."""

from __future__ import annotations

import pytest
import torch

from lswap_core.errors import InputError
from lswap_core.layers import combine_codes, group_of, layer_mask, parse_groups

RES_1024 = [4, 4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 512, 1024, 1024]
RES_64 = [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]


def test_groups_of_a_1024_generator_follow_the_paper():
    rows = {name: layer_mask(RES_1024, [name]).nonzero().flatten().tolist() for name in parse_groups("all")}
    assert rows == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine1": [8, 9, 10, 11], "fine2": list(range(12, 18))}
    assert group_of(2048) == "fine2"


def test_several_groups_and_unknown_or_absent_ones():
    assert layer_mask(RES_64, "coarse,fine1").tolist() == [True] * 4 + [False] * 4 + [True] * 2
    with pytest.raises(InputError, match="unknown layer group 'eyes'.*coarse, middle, fine1, fine2"):
        parse_groups("eyes")
    with pytest.raises(InputError, match="no fine2 layers.*4²–64²"):
        layer_mask(RES_64, ["fine2"])
    assert not layer_mask(RES_64, ["fine2"], allow_empty=True).any()


def test_combine_codes_moves_only_masked_rows_by_strength():
    target, swapped = torch.zeros(2, 4, 3), torch.ones(2, 4, 3)
    mask = torch.tensor([True, False, True, False])
    combined = combine_codes(target, swapped, mask, strength=0.25)
    assert torch.equal(combined[:, [0, 2]], torch.full((2, 2, 3), 0.25))
    assert torch.equal(combined[:, [1, 3]], torch.zeros(2, 2, 3))
    assert torch.equal(combine_codes(target, swapped), swapped)
    with pytest.raises(InputError, match="between 0 and 1"):
        combine_codes(target, swapped, strength=1.5)
