"""BMN loss: hand-computed values, finiteness without positives, reproducible sampling, training."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from src.losses.bmn_loss import BMNLoss, BMNWithLoss
from src.models.bmn import BMN

EPS = 1e-5


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)


def weighted_logistic(score, target, threshold, mask=None):
    """The ports' class-balanced logistic loss, written out with NumPy."""
    positive = (target > threshold).astype(np.float64)
    negative = 1.0 - positive
    if mask is not None:
        positive, negative = positive * mask, negative * mask
    num_positive = max(positive.sum(), 1.0)
    entries = num_positive + negative.sum() if mask is not None else target.size
    ratio = np.clip(entries / num_positive, 1.05, 21)
    terms = (0.5 * ratio * positive * np.log(score + EPS)
             + 0.5 * ratio / (ratio - 1) * negative * np.log(1 - score + EPS))
    return -terms.sum() / entries


def run_loss(loss, confidence, start, end, gt_iou_map, gt_start, gt_end):
    arrays = [confidence, start, end, gt_iou_map, gt_start, gt_end]
    return [float(value.asnumpy()) for value in loss(*[Tensor(a.astype(np.float32)) for a in arrays])]


def test_tem_value_by_hand():
    # one positive among 4 entries: ratio 4, coef_pos 2, coef_neg 2/3; every prediction 0.5
    loss = BMNLoss(tscale=4)
    start = np.full((1, 4), 0.5)
    gt_start = np.array([[0.9, 0.0, 0.2, 0.4]])
    expected_start = -(2 * np.log(0.5 + EPS) + 3 * (2 / 3) * np.log(0.5 + EPS)) / 4
    zeros_map = np.zeros((1, 4, 4))
    total, tem, reg, cls = run_loss(loss, np.full((1, 2, 4, 4), 0.5), start, start, zeros_map, gt_start, gt_start)
    assert tem == pytest.approx(2 * expected_start, rel=1e-5)
    assert reg == 0.0  # no high-IoU proposal: nothing sampled, and no NaN


def test_total_loss_equals_hand_computation_when_sampling_is_deterministic():
    tscale = 4
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=np.float64)
    # (duration, start) map: 3 high (> 0.7), 2 medium, 2 low (within the mask), and one high entry
    # outside the mask that must be ignored. #high >= #medium and #low, so every band entry is kept.
    gt_iou = np.array([[0.95, 0.8, 0.5, 0.1],
                       [0.75, 0.4, 0.2, 0.99],
                       [0.0, 0.0, 0.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0]])[None]
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.05, 0.95, (1, 2, tscale, tscale))
    start, end = rng.uniform(0.05, 0.95, (2, 1, tscale))
    gt_start, gt_end = np.array([[0.0, 0.7, 0.1, 0.0]]), np.array([[0.0, 0.0, 0.3, 0.8]])

    masked = gt_iou[0] * mask
    weights = (masked > 0).astype(np.float64)  # high + medium + low (> 0): all sampled
    expected_reg = 0.5 * (((confidence[0, 0] - masked) * weights) ** 2).sum() / weights.sum()
    expected_cls = weighted_logistic(confidence[0, 1], masked, 0.9, mask)
    expected_tem = weighted_logistic(start, gt_start, 0.5) + weighted_logistic(end, gt_end, 0.5)
    total, tem, reg, cls = run_loss(BMNLoss(tscale), confidence, start, end, gt_iou, gt_start, gt_end)
    assert tem == pytest.approx(expected_tem, rel=1e-5)
    assert reg == pytest.approx(expected_reg, rel=1e-5)
    assert cls == pytest.approx(expected_cls, rel=1e-5)
    assert total == pytest.approx(expected_tem + 10 * expected_reg + expected_cls, rel=1e-5)


def test_loss_is_finite_without_any_positive():
    tscale = 8
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, (2, 2, tscale, tscale))
    start, end = rng.uniform(0, 1, (2, 2, tscale))
    zeros = np.zeros((2, tscale))
    for gt_iou in (np.zeros((2, tscale, tscale)), np.full((2, tscale, tscale), 0.5)):  # none / only medium
        values = run_loss(BMNLoss(tscale), confidence, start, end, gt_iou, zeros, zeros)
        assert all(np.isfinite(values)), values


def test_sampling_stays_inside_the_iou_bands():
    # many high entries (so #high / #medium > 1): entries with IoU 0 must still not be sampled
    tscale = 6
    gt_iou = np.zeros((1, tscale, tscale))
    gt_iou[0, 0, :] = 0.9
    gt_iou[0, 1, 0] = 0.5
    confidence = np.zeros((1, 2, tscale, tscale))
    confidence[0, 0] = np.where(gt_iou[0] > 0, gt_iou[0], 0.7)  # exact where IoU > 0, wrong elsewhere
    zeros = np.zeros((1, tscale))
    _, _, reg, _ = run_loss(BMNLoss(tscale), confidence, zeros + 0.5, zeros + 0.5, gt_iou, zeros, zeros)
    assert reg == pytest.approx(0.0, abs=1e-7)


def test_random_sampling_is_reproducible_with_the_seed():
    tscale = 16
    rng = np.random.default_rng(1)
    gt_iou = rng.uniform(0, 1, (2, tscale, tscale)) ** 3  # few high, many medium / low
    arrays = (rng.uniform(0, 1, (2, 2, tscale, tscale)), rng.uniform(0, 1, (2, tscale)),
              rng.uniform(0, 1, (2, tscale)), gt_iou, np.zeros((2, tscale)), np.zeros((2, tscale)))
    runs = []
    for _ in range(2):
        ms.set_seed(7)
        loss = BMNLoss(tscale)
        runs.append([run_loss(loss, *arrays)[2] for _ in range(3)])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1  # fresh masks at every call


def test_bmn_with_loss_trains_with_model_api():
    ms.set_seed(0)
    tscale, feat_dim, batch = 8, 8, 2
    net = BMN(tscale=tscale, feat_dim=feat_dim, num_sample=4)
    rng = np.random.default_rng(0)
    features = Tensor(rng.normal(size=(batch, feat_dim, tscale)).astype(np.float32))
    gt_iou = np.zeros((batch, tscale, tscale), dtype=np.float32)
    gt_iou[:, 2, 1] = 1.0
    gt_iou[:, 1:4, 0:3] = np.maximum(gt_iou[:, 1:4, 0:3], 0.5)
    gt_start = np.zeros((batch, tscale), dtype=np.float32)
    gt_start[:, 1] = 1.0
    gt_end = np.zeros((batch, tscale), dtype=np.float32)
    gt_end[:, 4] = 1.0
    step = nn.TrainOneStepCell(BMNWithLoss(net), nn.Adam(net.trainable_params(), learning_rate=1e-3))
    losses = [float(step(features, Tensor(gt_iou), Tensor(gt_start), Tensor(gt_end)).asnumpy()) for _ in range(15)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < losses[0]
    # parameter names are the bare network's, so checkpoints of the training cell load into BMN
    assert {p.name for p in BMNWithLoss(net).trainable_params()} == {p.name for p in net.trainable_params()}
