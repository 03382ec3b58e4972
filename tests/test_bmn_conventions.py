"""Both boundary-matching conventions: sampling matrices and maps against loop-by-loop constructions
written from the public definitions, targets, valid masks, post-processing, loss eps and the
proposal-seconds rules."""
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from src.config import load_config
from src.data.bmn_data import BMNDataError, _proposal_seconds, bmn_targets
from src.losses.bmn_loss import BMNLoss
from src.models.bmn import BMN, dense_sampling_matrix, proposal_steps, valid_proposal_mask
from src.proposals.bmn_proposals import map_candidates


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)


def bin_columns(seg_min, seg_max, tscale, num_sample, perbin):
    """(T, num_sample) interpolation weights of one sampled span, as the public ``_get_interp1d_bin_mask``."""
    step = (seg_max - seg_min) / (num_sample * perbin - 1.0)
    samples = [seg_min + step * i for i in range(num_sample * perbin)]
    columns = np.zeros((tscale, num_sample))
    for n in range(num_sample):
        for sample in samples[n * perbin:(n + 1) * perbin]:
            decimal, down = math.modf(sample)
            upper = math.ceil(sample)
            if 0 <= int(down) <= tscale - 1:
                columns[int(down), n] += 1 - decimal
            if 0 <= int(upper) <= tscale - 1:
                columns[int(upper), n] += decimal
        columns[:, n] /= perbin
    return columns


def public_duration_start(tscale, num_sample, perbin, ratio):
    """JJBOY 2019 / mmaction2: outer loop start, inner loop duration, stacked to (T, N, D, S)."""
    per_start = []
    for start in range(tscale):
        per_duration = []
        for duration in range(tscale):
            if start + duration < tscale:
                length = float(duration) + 1
                per_duration.append(bin_columns(start - length * ratio, start + duration + length * ratio,
                                                tscale, num_sample, perbin))
            else:
                per_duration.append(np.zeros((tscale, num_sample)))
        per_start.append(np.stack(per_duration, axis=2))
    return np.stack(per_start, axis=3).astype(np.float32).reshape(tscale, -1)


def public_start_end(tscale, num_sample, perbin, ratio):
    """JJBOY June 2020: outer loop end, inner loop start, stacked to (T, N, start, end); proposal
    [i, j + 1] with length j + 1 - i + 1."""
    per_end = []
    for end in range(tscale):
        per_start = []
        for start in range(tscale):
            if start <= end:
                low, high = start, end + 1
                length = float(high - low) + 1
                per_start.append(bin_columns(low - length * ratio, high + length * ratio, tscale, num_sample, perbin))
            else:
                per_start.append(np.zeros((tscale, num_sample)))
        per_end.append(np.stack(per_start, axis=2))
    return np.stack(per_end, axis=3).astype(np.float32).reshape(tscale, -1)


PUBLIC = {"duration_start": public_duration_start, "start_end": public_start_end}


@pytest.mark.parametrize("layout", sorted(PUBLIC))
@pytest.mark.parametrize("tscale, num_sample, perbin, ratio", [(12, 8, 3, 0.5), (9, 4, 2, 0.3)])
def test_sampling_matrix_equals_the_public_construction(layout, tscale, num_sample, perbin, ratio):
    expected = PUBLIC[layout](tscale, num_sample, perbin, ratio)
    np.testing.assert_allclose(dense_sampling_matrix(tscale, num_sample, perbin, ratio, layout), expected,
                               rtol=0, atol=1e-7)


def test_the_two_conventions_sample_differently():
    ds = dense_sampling_matrix(10, 4, 3, 0.5, "duration_start")
    se = dense_sampling_matrix(10, 4, 3, 0.5, "start_end")
    assert not np.allclose(ds, se)


def test_valid_masks_and_proposal_steps():
    tscale = 5
    np.testing.assert_array_equal(valid_proposal_mask(tscale, "start_end"), np.triu(np.ones((tscale, tscale))))
    np.testing.assert_array_equal(valid_proposal_mask(tscale, "duration_start"),
                                  np.fliplr(np.triu(np.ones((tscale, tscale)))))
    # duration_start map[d, s] = [s, s + d + 1]; start_end map[i, j] = [i, j + 1]
    assert proposal_steps(tscale, "duration_start")[2, 1].tolist() == [1, 4]
    assert proposal_steps(tscale, "start_end")[1, 3].tolist() == [1, 4]


class _Maps(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x):
        return self.net.proposal_feature_map(x)


@pytest.mark.parametrize("layout", sorted(PUBLIC))
def test_map_equals_the_public_matmul_then_conv3d(layout):
    tscale, num_sample, batch, channels = 11, 4, 2, 8
    net = BMN(tscale=tscale, feat_dim=8, num_sample=num_sample, bm_layout=layout, pem_channels=channels)
    pem = np.random.default_rng(0).random((batch, channels, tscale), dtype=np.float32)
    fast = _Maps(net)(Tensor(pem)).asnumpy()
    bm = (pem.astype(np.float64) @ PUBLIC[layout](tscale, num_sample, 3, 0.5)).reshape(
        batch, channels, num_sample, tscale, tscale)
    weight = net.x_3d_p[0].weight.asnumpy().reshape(512, channels, num_sample).astype(np.float64)
    bias = net.x_3d_p[0].bias.asnumpy().astype(np.float64)
    expected = np.maximum(np.einsum("ocn,bcnij->boij", weight, bm) + bias[None, :, None, None], 0)
    np.testing.assert_allclose(fast, expected, rtol=1e-4, atol=1e-5)


def test_start_end_targets_by_hand():
    iou_map, start, end = bmn_targets(np.array([[0.25, 0.75]]), 4, "start_end")
    assert iou_map[1, 2] == pytest.approx(1.0)  # [1/4, 3/4]
    assert iou_map[1, 1] == pytest.approx(0.5)  # [1/4, 2/4]
    assert iou_map[0, 3] == pytest.approx(0.5)  # [0, 1]
    assert iou_map[2, 0] == 0.0  # no proposal (start after end)
    same_ds = bmn_targets(np.array([[0.25, 0.75]]), 4, "duration_start")
    assert same_ds[0][1, 1] == pytest.approx(1.0)  # duration 1, start 1 = [1/4, 3/4]
    np.testing.assert_array_equal(start, same_ds[1])
    np.testing.assert_array_equal(end, same_ds[2])


@pytest.mark.parametrize("layout", sorted(PUBLIC))
def test_post_processing_reads_each_layout(layout):
    tscale = 6
    start, end = np.full(tscale, 0.6), np.full(tscale, 0.6)
    confidence = np.full((2, tscale, tscale), 0.5)
    cell = (2, 1) if layout == "duration_start" else (1, 3)  # both the proposal [1, 4]
    confidence[:, cell[0], cell[1]] = 1.0
    candidates = map_candidates(start, end, confidence, layout)
    best = candidates[np.argmax(candidates[:, 2])]
    assert best[:2].tolist() == [1 / tscale, 4 / tscale]
    assert best[2] == pytest.approx(0.36)
    # every candidate ends inside the video and starts before it ends
    assert (candidates[:, 1] < 1).all() and (candidates[:, 0] < candidates[:, 1]).all()
    assert len(candidates) == sum(1 for s in range(tscale) for e in range(s + 1, tscale))


@pytest.mark.parametrize("eps", [1e-5, 1e-6])
def test_loss_eps_is_the_configured_one(eps):
    tscale = 4
    loss = BMNLoss(tscale, "start_end", eps=eps)
    start = np.array([[0.0, 1.0, 0.5, 0.5]])  # log(0 + eps) shows eps directly
    gt = np.array([[0.9, 0.0, 0.0, 0.0]])
    outputs = loss(*[Tensor(a.astype(np.float32)) for a in (np.full((1, 2, 4, 4), 0.5), start, start,
                                                            np.zeros((1, 4, 4)), gt, gt)])
    tem = float(outputs[1].asnumpy())
    ratio = 4.0
    one = -(0.5 * ratio * np.log(0.0 + eps) + 0.5 * ratio / (ratio - 1) * (np.log(1 - 1.0 + eps)
                                                                           + 2 * np.log(0.5 + eps))) / 4
    assert tem == pytest.approx(2 * one, rel=1e-4)


def test_start_end_loss_masks_the_lower_triangle():
    tscale = 4
    loss = BMNLoss(tscale, "start_end")
    gt_iou = np.zeros((1, tscale, tscale))
    gt_iou[0, 0, 3] = 0.95
    confidence = np.full((1, 2, tscale, tscale), 0.5)
    base = [float(v.asnumpy()) for v in loss(*[Tensor(a.astype(np.float32)) for a in (
        confidence, np.full((1, 4), 0.5), np.full((1, 4), 0.5), gt_iou, np.zeros((1, 4)), np.zeros((1, 4)))])]
    confidence[0, 1, 3, 0] = 0.99  # no proposal there: ignored
    moved = [float(v.asnumpy()) for v in loss(*[Tensor(a.astype(np.float32)) for a in (
        confidence, np.full((1, 4), 0.5), np.full((1, 4), 0.5), gt_iou, np.zeros((1, 4)), np.zeros((1, 4)))])]
    assert moved[3] == pytest.approx(base[3])


def test_proposal_seconds_rules():
    entry = {"duration_second": 100.0, "duration_frame": 2500, "feature_frame": 2496}
    span = 2496 / 2500 * 100.0
    assert _proposal_seconds("v", entry, "a.json", span, "feature_frame", 16) == span
    assert _proposal_seconds("v", entry, "a.json", span, "interval_floor", 16) == pytest.approx(2496 / 2500 * 100)
    odd = {"duration_second": 10.0, "duration_frame": 250, "feature_frame": 250}
    assert _proposal_seconds("v", odd, "a.json", 10.0, "feature_frame", 16) == 10.0
    assert _proposal_seconds("v", odd, "a.json", 10.0, "interval_floor", 16) == pytest.approx(240 / 250 * 10.0)
    with pytest.raises(BMNDataError, match="a.json: video v has no 'duration_frame'"):
        _proposal_seconds("v", {"duration_second": 10.0}, "a.json", 10.0, "interval_floor", 16)
    with pytest.raises(BMNDataError, match="a.json: video v: duration_frame must be a number, got 'x'"):
        _proposal_seconds("v", {"duration_second": 10.0, "duration_frame": "x"}, "a.json", 10.0, "interval_floor", 16)


def test_activitynet_recipes_use_the_references_values():
    for name, layout in (("activitynet", "duration_start"), ("activitynet_start_end", "start_end")):
        cfg = load_config(f"configs/bmn/{name}.yaml")
        assert (cfg.bm_layout, cfg.bmn_loss_eps, cfg.duration_rule, cfg.feature_interval) == (
            layout, 1e-6, "interval_floor", 16)
