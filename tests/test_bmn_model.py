"""BMN network: parameter count, shapes, the sampling matrix and the fast BM layer vs the dense one."""
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from src.models import create_model
from src.models.bmn import BMN, sampling_taps, tiled_sampling, valid_proposal_mask


def sampling_matrix(tscale: int, num_sample: int, num_sample_perbin: int,
                    prop_boundary_ratio: float) -> np.ndarray:
    """The ports' dense sampling matrix from the network's taps, shape (T_time, num_sample,
    T_duration, T_start): ``features (B, C, T) @ matrix.reshape(T, -1)`` gives the BM features."""
    time, bin_index, proposal, weight = sampling_taps(tscale, num_sample, num_sample_perbin,
                                                      prop_boundary_ratio)
    duration, start = np.nonzero(valid_proposal_mask(tscale))
    matrix = np.zeros((tscale, num_sample, tscale, tscale), dtype=np.float32)
    matrix[time, bin_index, duration[proposal], start[proposal]] = weight
    return matrix


def slow_sampling_matrix(tscale, num_sample, num_sample_perbin, ratio):
    """Direct construction, loop by loop, following the description of the public ports."""
    matrix = np.zeros((tscale, num_sample, tscale, tscale))
    for start in range(tscale):
        for duration in range(tscale):
            if start + duration >= tscale:
                continue
            center_len = float(duration) + 1
            seg_min = start - center_len * ratio
            seg_max = start + duration + center_len * ratio
            step = (seg_max - seg_min) / (num_sample * num_sample_perbin - 1.0)
            samples = [seg_min + step * i for i in range(num_sample * num_sample_perbin)]
            for n in range(num_sample):
                column = np.zeros(tscale)
                for sample in samples[n * num_sample_perbin:(n + 1) * num_sample_perbin]:
                    decimal, down = math.modf(sample)
                    upper = math.ceil(sample)
                    if 0 <= int(down) <= tscale - 1:
                        column[int(down)] += 1 - decimal
                    if 0 <= int(upper) <= tscale - 1:
                        column[int(upper)] += decimal
                matrix[:, n, duration, start] = 1.0 / num_sample_perbin * column
    return matrix.astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    ms.set_context(mode=ms.GRAPH_MODE)


def test_trainable_parameter_count_matches_the_ports():
    net = BMN(tscale=100, feat_dim=400)
    assert sum(p.size for p in net.trainable_params()) == 4_978_564
    names = {p.name for p in net.trainable_params()}
    assert {"x_1d_b.0.weight", "x_1d_s.2.bias", "x_3d_p.0.weight", "x_2d_p.6.weight"} <= names
    assert net.x_3d_p[0].weight.shape == (512, 256, 32, 1, 1)
    # the sampling constants are not parameters (not trained, not checkpointed)
    assert all("tile" not in name and "index" not in name for name in names)


def test_factory_builds_bmn_for_2048_dim_features():
    net = create_model("bmn", tscale=16, feat_dim=2048, num_sample=8, num_sample_perbin=3,
                       prop_boundary_ratio=0.5, num_classes=101)
    confidence, start, end = net(Tensor(np.random.rand(2, 2048, 16).astype(np.float32)))
    assert confidence.shape == (2, 2, 16, 16) and start.shape == (2, 16) and end.shape == (2, 16)
    values = confidence.asnumpy()
    assert (values > 0).all() and (values < 1).all()


@pytest.mark.parametrize("tscale, num_sample, perbin, ratio", [(12, 8, 3, 0.5), (9, 4, 2, 0.3), (7, 5, 1, 0.0)])
def test_sampling_matrix_equals_direct_construction(tscale, num_sample, perbin, ratio):
    expected = slow_sampling_matrix(tscale, num_sample, perbin, ratio)
    np.testing.assert_allclose(sampling_matrix(tscale, num_sample, perbin, ratio), expected, rtol=0, atol=1e-7)


def test_tiles_hold_every_entry_of_the_sampling_matrix():
    tscale, num_sample = 23, 6  # not a multiple of the tile size
    dense = sampling_matrix(tscale, num_sample, 3, 0.5)
    row_index, tile_matrix, map_index = tiled_sampling(tscale, num_sample, 3, 0.5)
    num_tiles, slots, rows_per_tile = tile_matrix.shape
    rebuilt = np.zeros((num_sample * tscale, num_tiles * slots + 1), dtype=np.float32)
    for k in range(num_tiles):
        # padded rows carry zero weight, so accumulating keeps them harmless
        np.add.at(rebuilt, (row_index.reshape(num_tiles, rows_per_tile)[k][:, None],
                            k * slots + np.arange(slots)[None, :]), tile_matrix[k].T)
    rebuilt_dense = rebuilt[:, map_index].reshape(num_sample, tscale, tscale, tscale).transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(rebuilt_dense, dense)
    assert (map_index[valid_proposal_mask(tscale).reshape(-1) == 0] == num_tiles * slots).all()


class _ProposalFeatures(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def construct(self, x):
        return self.net.proposal_feature_map(x)


def test_fast_bm_layer_equals_dense_matmul_then_conv3d():
    tscale, num_sample, batch = 14, 8, 2
    net = BMN(tscale=tscale, feat_dim=16, num_sample=num_sample)
    rng = np.random.default_rng(0)
    pem = rng.random((batch, 256, tscale), dtype=np.float32)
    fast = _ProposalFeatures(net)(Tensor(pem)).asnumpy()

    dense = sampling_matrix(tscale, num_sample, 3, 0.5).reshape(tscale, -1)
    bm_features = (pem.astype(np.float64) @ dense).reshape(batch, 256, num_sample, tscale, tscale)
    weight = net.x_3d_p[0].weight.asnumpy().reshape(512, 256, num_sample).astype(np.float64)
    bias = net.x_3d_p[0].bias.asnumpy().astype(np.float64)
    expected = np.einsum("ocn,bcnds->bods", weight, bm_features) + bias[None, :, None, None]
    expected = np.maximum(expected, 0)
    assert fast.shape == (batch, 512, tscale, tscale)
    np.testing.assert_allclose(fast, expected, rtol=1e-4, atol=1e-5)
    # proposals past the video end see only the Conv3d bias, as with the dense matrix
    outside = valid_proposal_mask(tscale) == 0
    np.testing.assert_allclose(fast[:, :, outside], np.broadcast_to(np.maximum(bias, 0)[None, :, None],
                                                                     fast[:, :, outside].shape), atol=1e-6)


def test_gradients_flow_through_the_fast_bm_layer():
    net = BMN(tscale=10, feat_dim=8, num_sample=4)
    x = Tensor(np.random.default_rng(1).random((1, 8, 10), dtype=np.float32))

    class Loss(nn.Cell):
        def __init__(self, bmn):
            super().__init__()
            self.bmn = bmn

        def construct(self, features):
            confidence, start, end = self.bmn(features)
            return confidence.mean() + start.mean() + end.mean()

    grads = ms.grad(Loss(net), grad_position=None, weights=net.trainable_params())(x)
    by_name = {p.name.split("bmn.")[-1]: g.asnumpy() for p, g in zip(net.trainable_params(), grads)}
    assert np.abs(by_name["x_3d_p.0.weight"]).sum() > 0
    assert np.abs(by_name["x_1d_p.0.weight"]).sum() > 0
    assert all(np.isfinite(g).all() for g in by_name.values())
