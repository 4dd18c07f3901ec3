"""compare.lab.config.lambda_pair: the one reader in compare/ of the homework's flat λ list."""

from __future__ import annotations

import pytest

from compare.lab.config import describe_lambdas, flat_lambdas, lambda_pair, lambda_pairs

LAMBDAS = (0.011, 0.013, 0.017, 0.019, 0.023, 0.029)  # [λ1_1, λ1_2, λ2_1, λ2_2, λ3_1, λ3_2]


def test_layers_count_from_one_l1_then_l2():
    assert lambda_pair(LAMBDAS, 1) == (0.011, 0.013)
    assert lambda_pair(LAMBDAS, 3) == (0.023, 0.029)  # the last weight matrix
    assert lambda_pairs(LAMBDAS) == [(0.011, 0.013), (0.017, 0.019), (0.023, 0.029)]
    assert flat_lambdas(lambda_pairs(LAMBDAS)) == LAMBDAS and flat_lambdas([(0.0, 0.5)] * 2) == (0.0, 0.5, 0.0, 0.5)
    assert lambda_pairs([]) == []


@pytest.mark.parametrize("layer", [0, 4, -1, 1.0, True, "1"])
def test_a_layer_outside_the_list_is_refused_by_name(layer):
    with pytest.raises(ValueError, match=rf"layer must be an int from 1 to 3 .*got {layer!r}"):
        lambda_pair(LAMBDAS, layer)


def test_describe_reads_the_pairs():
    assert describe_lambdas((0.0, 1e-4, 0.0, 1e-4)) == "L2 1e-4 on each W"
    assert describe_lambdas((1e-3, 0.0, 0.0, 0.0)) == "λ 0.001 0 0 0"
    assert describe_lambdas((0.0, 0.0)) == "no penalty"
