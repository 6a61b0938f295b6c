"""Tests of mabprune.rewards: the three transforms of ΔL and their validation."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from mabprune import rewards
from mabprune.rewards import REWARDS, RewardTransform, make_reward

D = np.array([-0.5, 0.0, 0.2, 1.0])


def test_names_and_flags():
    assert REWARDS == ("raw", "clipped", "unit", "margin")
    assert [make_reward(n).bounded for n in REWARDS] == [False, False, True, True]
    assert make_reward().name == "unit"


def test_raw_and_clipped_values():
    np.testing.assert_array_equal(make_reward("raw")(D), [0.5, 0.0, -0.2, -1.0])
    np.testing.assert_allclose(make_reward("clipped")(D), [0.5, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(make_reward("clipped", margin=0.3)(D), [0.8, 0.3, 0.1, 0.0])
    for name in ("raw", "clipped"):
        transform = make_reward(name)
        assert transform.fit(D) is transform and transform.lo_ is None  # fit is a no-op


def test_unit_values_on_a_known_array():
    unit = make_reward("unit").fit([-1.0, 0.0, 3.0])  # range 4, widened by 0.4 each side
    assert (unit.lo_, unit.hi_) == pytest.approx((-1.4, 3.4))
    np.testing.assert_allclose(unit(np.array([-1.0, 1.0, 3.0, -10.0, 10.0])),
                               [4.4 / 4.8, 0.5, 0.4 / 4.8, 1.0, 0.0])
    exact = make_reward("unit", widen=0.0).fit([-1.0, 0.0, 3.0])
    np.testing.assert_allclose(exact(np.array([-1.0, 0.0, 3.0])), [1.0, 0.75, 0.0])


def test_unit_maps_its_fit_pass_into_the_unit_interval_decreasingly():
    d = np.random.default_rng(0).normal(0.01, 0.02, size=500)
    r = make_reward("unit").fit(d)(d)
    assert r.dtype == np.float64 and r.shape == d.shape
    assert 0.0 < r.min() and r.max() < 1.0  # the widening keeps the fit pass off the clip
    order = np.argsort(d)
    assert (np.diff(r[order]) < 0).all()


def test_unit_degenerate_fit_pass():
    unit = make_reward("unit").fit(np.zeros(8))  # e.g. all dead neurons: no scale to learn
    np.testing.assert_allclose(unit(np.array([0.0, -0.5, 0.5])), [0.5, 0.75, 0.25])
    np.testing.assert_allclose(make_reward("unit").fit([4.0])(np.array([4.0])), [0.5])


def test_shapes_and_lists_are_accepted():
    out = make_reward("raw")([[1.0, 2.0], [3.0, 4.0]])
    assert out.shape == (2, 2) and out.dtype == np.float64
    assert make_reward("raw")([]).shape == (0,)


@pytest.mark.parametrize("name", REWARDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_delta_losses_are_rejected(name, bad):
    transform = make_reward(name).fit(D)
    d = np.array([0.1, 0.2, bad, 0.3, bad])
    with pytest.raises(ValueError, match=r"2 non-finite value\(s\).*first at index 2"):
        transform(d)
    with pytest.raises(ValueError, match="non-finite"):
        make_reward(name).fit(d)


def test_unit_before_fit_and_bad_parameters():
    with pytest.raises(ValueError, match=r"'unit' reward is not fitted.*\.fit\("):
        make_reward("unit")(D)
    with pytest.raises(ValueError, match="empty"):
        make_reward("unit").fit([])
    with pytest.raises(ValueError, match="unknown reward transform 'log'; valid names: raw"):
        make_reward("log")
    with pytest.raises(ValueError, match="margin must be a finite"):
        make_reward("clipped", margin=float("nan"))
    with pytest.raises(ValueError, match="widen must be >= 0"):
        RewardTransform("unit", widen=-0.1)


def test_docstring_examples_run():
    result = doctest.testmod(rewards, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
