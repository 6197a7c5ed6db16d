"""Steps rewritten for speed against the straightforward code they replace: the results must be identical,
not merely close, so that outputs stay byte for byte what they were."""

from __future__ import annotations

import numpy as np
import pytest

from farside import colour, tone
from farside.pipeline import Look, choose_look, frame_samples, linearize, settings_for
from farside.products.reader import read
from farside.synthetic import write_product


def reference_grey_world_gains(samples: np.ndarray, saturation: float = 0.98) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float64).reshape(-1, 3)
    usable = np.all(samples < saturation, axis=1) & np.all(samples > 0, axis=1)
    values = samples[usable]
    if len(values) < 16:
        return np.ones(3)
    brightness = values.sum(axis=1)
    low, high = np.percentile(brightness, [2, 98])
    mid = values[(brightness >= low) & (brightness <= high)]
    means = (mid if len(mid) else values).mean(axis=0)
    if np.any(means <= 0):
        return np.ones(3)
    return means[1] / means


def reference_percentile_limits(samples, low, high, linked=True):
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples.reshape(-1, samples.shape[-1])
    channels = samples.shape[1]
    finite = samples[np.all(np.isfinite(samples), axis=1)]
    if finite.size == 0:
        return np.zeros(channels), np.ones(channels)
    if linked:
        lo, hi = np.percentile(finite, [low, high])
        lo_v, hi_v = np.full(channels, lo), np.full(channels, hi)
    else:
        lo_v, hi_v = np.percentile(finite, [low, high], axis=0)
    hi_v = np.where(hi_v - lo_v > 1e-12, hi_v, lo_v + 1.0)
    return lo_v, hi_v


def _samples(seed: int, count: int, channels: int) -> np.ndarray:
    """Frame-like samples with what the steps must leave out: clipped, zero, negative and non-finite ones."""
    rng = np.random.default_rng(seed)
    samples = (rng.gamma(2.0, 0.15, (count, channels)) * rng.uniform(0.5, 1.5, channels)).astype(np.float32)
    samples[rng.integers(0, count, count // 50)] = 1.0
    samples[rng.integers(0, count, count // 50), 0] = 0.0
    samples[rng.integers(0, count, count // 100), -1] = -0.01
    samples[rng.integers(0, count, 7), 0] = np.nan
    samples[rng.integers(0, count, 3), -1] = np.inf
    return samples


@pytest.mark.parametrize("seed", range(6))
def test_grey_world_gains_as_before(seed):
    for count in (10, 40, 63_504):
        samples = _samples(seed, count, 3)
        assert np.array_equal(colour.grey_world_gains(samples), reference_grey_world_gains(samples))
        finite = np.nan_to_num(samples, nan=0.5, posinf=0.5)
        assert np.array_equal(colour.grey_world_gains(finite, 0.9), reference_grey_world_gains(finite, 0.9))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("linked", [True, False])
def test_percentile_limits_as_before(channels, linked):
    for seed in range(4):
        for samples in (_samples(seed, 20_000, channels), np.nan_to_num(_samples(seed, 20_000, channels))):
            ours = tone.percentile_limits(samples, 0.5, 99.8, linked)
            theirs = reference_percentile_limits(samples, 0.5, 99.8, linked)
            assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    nothing = np.full((5, channels), np.nan)
    ours, theirs = tone.percentile_limits(nothing, 1, 99), reference_percentile_limits(nothing, 1, 99)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("shape", [(31, 45), (31, 45, 3), (31, 45, 4), (3, 31, 45)])
def test_display_decoding_as_through_the_table(dtype, shape):
    rng = np.random.default_rng(len(shape))
    stored = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    image = np.moveaxis(stored, 0, 2) if shape[0] == 3 else stored  # band-sequential storage: not contiguous
    peak = np.iinfo(dtype).max
    table = tone.srgb_decode(np.arange(peak + 1) / peak).astype(np.float32)
    decoded = tone.decode_display(image)
    assert decoded.dtype == np.float32 and np.array_equal(decoded, table[image])


def reference_choose_look(settings, samples, linear, product):
    """The look as chosen before looks without a stretch skipped the samples' colours and levels."""
    from farside.pipeline import white_balance

    gains = white_balance(settings, samples, linear, product)
    matrix = None
    values = samples.astype(np.float64)
    if samples.shape[-1] == 3:
        level = linear.clip * linear.exposure_factor
        values = np.minimum(values * gains, gains.min() * level)
        matrix = colour.colour_matrix(settings.matrix)
        values = values @ matrix.T
    channels = values.shape[-1]
    return Look(gains, matrix, np.zeros(channels), np.full(channels, linear.exposure_factor))


@pytest.mark.parametrize("kind", ["ce4-tcam", "ce4-pcam-c", "ce4-lcam"])
@pytest.mark.parametrize("balance", ["none", "grey-world"])
def test_a_look_without_stretch_as_before(tmp_path, kodak_image, kind, balance):
    shape = (96, 128, 3) if kind == "ce4-tcam" else (96, 128)
    label = write_product(kind, kodak_image(5), tmp_path, shape=shape)
    product = read(label)
    overrides = {"tone.stretch": "none", "colour.white_balance": balance}
    settings = settings_for(product, overrides=overrides)
    linear = linearize(product, settings)
    ours = choose_look(settings, frame_samples(linear), linear, product)
    theirs = reference_choose_look(settings, frame_samples(linear), linear, product)
    for name in ("gains", "matrix", "lo", "hi"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
