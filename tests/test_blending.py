"""Batch-level soft targets: label smoothing and mixup (src/transforms/blending.py)."""
import numpy as np
import pytest

from src.transforms.blending import SoftTargets


def test_label_smoothing_rows():
    imgs = np.ones((3, 2, 4), np.float32)
    out_imgs, targets = SoftTargets(4, smoothing=0.2)(imgs, np.array([0, 3, 1], np.int32))
    assert out_imgs is imgs or np.array_equal(out_imgs, imgs)
    expected = np.full((3, 4), 0.05, np.float32)
    expected[[0, 1, 2], [0, 3, 1]] = 0.85
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    assert targets.dtype == np.float32


def _one_hot_batch(size: int):
    """Clips that are one-hot rows over the batch, labelled by their row: a blend of clips then
    reads like a blend of targets."""
    return np.eye(size, dtype=np.float32), np.arange(size, dtype=np.int32)


def test_mixup_blends_clips_and_targets_alike_and_repeats_under_its_seed():
    imgs, label = _one_hot_batch(6)
    mixed, targets = SoftTargets(6, mixup_alpha=0.2, seed=7)(imgs, label)
    again, targets_again = SoftTargets(6, mixup_alpha=0.2, seed=7)(imgs, label)
    np.testing.assert_array_equal(mixed, again)
    np.testing.assert_array_equal(targets, targets_again)
    assert mixed.dtype == np.float32 and mixed.shape == imgs.shape
    np.testing.assert_allclose(mixed, targets, atol=1e-6)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    # every clip keeps the batch's one weight w on itself and gives 1 - w to one partner
    weights = set()
    for i in range(6):
        partner = [j for j in range(6) if j != i and targets[i, j] > 0]
        assert len(partner) <= 1
        if partner:
            weights.add(round(float(targets[i, i]), 5))
            assert targets[i, partner[0]] == pytest.approx(1 - targets[i, i], abs=1e-6)
        else:
            assert targets[i, i] == 1.0
    assert len(weights) == 1
    assert not np.array_equal(SoftTargets(6, mixup_alpha=0.2, seed=8)(imgs, label)[1], targets)


def test_mixup_weights_follow_the_beta_distribution():
    blend = SoftTargets(6, mixup_alpha=0.2, seed=1)
    imgs, label = _one_hot_batch(6)
    weights = []
    for _ in range(400):
        mixed, _ = blend(imgs, label)
        paired = [i for i in range(6) if mixed[i, i] < 1.0 or np.count_nonzero(mixed[i]) > 1]
        if paired:
            weights.append(mixed[paired[0], paired[0]])
    weights = np.array(weights)
    assert len(weights) > 350
    # Beta(0.2, 0.2) is symmetric and piles up near 0 and 1
    assert 0.4 < weights.mean() < 0.6 and np.mean(np.abs(weights - 0.5) > 0.4) > 0.5


def test_bad_labels_and_arguments_are_explained():
    with pytest.raises(ValueError, match="check num_classes"):
        SoftTargets(3)(np.zeros((2, 1), np.float32), np.array([0, 3]))
    with pytest.raises(ValueError, match="smoothing"):
        SoftTargets(3, smoothing=1.5)
    with pytest.raises(ValueError, match="mixup_alpha"):
        SoftTargets(3, mixup_alpha=-1)
