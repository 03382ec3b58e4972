"""BMN: Boundary-Matching Network for temporal action proposal generation (Lin et al., ICCV 2019).

Layer for layer the network of the public PyTorch ports (JJBOY, mmaction2, PaddleVideo), with the
same parameter names (``x_1d_b.0.weight``, ``x_3d_p.0.weight``, ...) and 4,978,564 trainable
parameters at feat_dim 400, so weights convert 1:1 (MindSpore's Conv1d keeps its kernel as
(out, in/groups, 1, k)):

* ``x_1d_b`` base module, ``x_1d_s`` / ``x_1d_e`` start / end heads (TEM),
* ``x_1d_p`` PEM 1-D features, the boundary-matching (BM) layer, ``x_3d_p`` Conv3d with kernel
  (num_sample, 1, 1), ``x_2d_p`` Conv2d stack ending in a 2-channel sigmoid map.

Input (B, feat_dim, T), outputs ``(confidence_map (B, 2, T, T), start (B, T), end (B, T))``.

**Map indexing: (duration, start)**, as in mmaction2 and PaddleVideo. ``confidence_map[b, :, d, s]``
scores the proposal that starts at step ``s`` and lasts ``d + 1`` steps, i.e. the normalised segment
``[s / T, (s + d + 1) / T]``; entries with ``s + d >= T`` run past the video end and are masked by
the loss and ignored by post-processing. Channel 0 is the IoU regression score, channel 1 the
classification score.

Speed. The ports multiply the (B, C, T) features with a fixed, mostly zero (T, num_sample * T * T)
sampling matrix (each sample interpolates two neighbouring steps) and run the Conv3d over the
(B, C, num_sample, T, T) result; these two steps dominate the cost. Both are linear, so here

1. the Conv3d kernel is applied first: (512 * num_sample, C) x (C, T) per video, cheap;
2. the sampling is ONE batched matmul with a constant tiled sampling matrix: proposals are grouped
   in tiles of 10 durations x 10 starts, and each tile multiplies only the (bin, time) rows its
   proposals read (gathered once), skipping about 80 % of the zero entries;
3. a gather places the tiles in the (duration, start) map; proposals past the video end get the
   Conv3d bias only, as in the ports.

The result equals the ports' formulation up to float rounding (``tests/test_bmn_model.py`` checks
it against the dense matmul and the sampling matrix against a direct construction).
"""
from typing import Tuple

import numpy as np
from mindspore import Tensor, nn, ops

from .registry import register_model

__all__ = ["BMN", "bmn", "valid_proposal_mask", "sample_points", "sampling_taps",
           "tiled_sampling"]

HIDDEN_1D, HIDDEN_2D, HIDDEN_3D = 256, 128, 512
TILE = (10, 10)  # (durations, starts) per tile of the sampling matmul; measured fastest at T = 100


def valid_proposal_mask(tscale: int) -> np.ndarray:
    """(T, T) float32 mask in (duration, start) layout: 1 where start + duration < T."""
    duration = np.arange(tscale)[:, None]
    start = np.arange(tscale)[None, :]
    return (start + duration < tscale).astype(np.float32)


def sample_points(tscale: int, num_sample: int, num_sample_perbin: int,
                  prop_boundary_ratio: float) -> np.ndarray:
    """(T_duration, T_start, num_sample * num_sample_perbin) float64 sample positions.

    Proposal (d, s) spans steps s .. s + d; it is extended by ``prop_boundary_ratio`` of its length
    on both sides and sampled at evenly spaced points, the same float64 arithmetic as the ports.
    """
    duration = np.arange(tscale, dtype=np.float64)[:, None]
    start = np.arange(tscale, dtype=np.float64)[None, :]
    center_len = duration + 1.0
    seg_min = start - center_len * prop_boundary_ratio
    seg_max = (start + duration) + center_len * prop_boundary_ratio
    step = (seg_max - seg_min) / (num_sample * num_sample_perbin - 1.0)
    return seg_min[..., None] + step[..., None] * np.arange(num_sample * num_sample_perbin)


def _interpolation_taps(points: np.ndarray, tscale: int):
    """Time index and weight of the two linear-interpolation taps of every point.

    Follows the ports' rule exactly: the point is split with ``math.modf`` (truncation toward
    zero, signed fraction) and ``math.ceil``; taps outside [0, T) are dropped.
    Returns (index, weight, inside) arrays of shape points.shape + (2,).
    """
    fraction, whole = np.modf(points)
    index = np.stack([whole, np.ceil(points)], axis=-1).astype(np.int64)
    weight = np.stack([1.0 - fraction, fraction], axis=-1)
    inside = (index >= 0) & (index <= tscale - 1)
    return index, weight, inside


def sampling_taps(tscale: int, num_sample: int, num_sample_perbin: int, prop_boundary_ratio: float):
    """Non-zero entries of the sampling, one per (time step, bin, proposal inside the video).

    Returns ``(time, bin, proposal, weight)``; ``proposal`` numbers the V = T (T + 1) / 2 proposals
    inside the video (start + duration < T) in row-major (duration, start) order, and ``weight``
    (float32) is the bin's average of the interpolation weights (summed in float64, as the ports).
    """
    points = sample_points(tscale, num_sample, num_sample_perbin, prop_boundary_ratio)
    points = points[valid_proposal_mask(tscale).astype(bool)]  # (V, num_sample * num_sample_perbin)
    num_valid = points.shape[0]
    index, weight, inside = _interpolation_taps(points, tscale)
    proposal, sample, tap = np.nonzero(inside)
    key = (index[proposal, sample, tap] * num_sample + sample // num_sample_perbin) * num_valid + proposal
    unique_key, position = np.unique(key, return_inverse=True)
    summed = (1.0 / num_sample_perbin) * np.bincount(position, weights=weight[proposal, sample, tap])
    weight = summed.astype(np.float32)
    keep = weight != 0
    time_and_bin, proposal = np.divmod(unique_key[keep], num_valid)
    time, bin_index = np.divmod(time_and_bin, num_sample)
    return time, bin_index, proposal, weight[keep]


def tiled_sampling(tscale: int, num_sample: int, num_sample_perbin: int, prop_boundary_ratio: float,
                   tile: Tuple[int, int] = TILE):
    """The sampling as K dense tiles of nearby proposals, for :meth:`BMN.proposal_feature_map`.

    Proposals inside the video are grouped in tiles of ``tile`` = (durations, starts); a tile reads
    only the (bin, time) rows its proposals sample. Returns

    * ``row_index`` (K * R,) int32: the rows (bin * T + time) each tile reads, zero-padded to R;
    * ``tile_matrix`` (K, S, R) float32: the weights of the tile's S = durations * starts slots;
    * ``map_index`` (T * T,) int32: for every (duration, start) of the map, its slot k * S + s, or
      K * S (an all-zero row) for proposals past the video end.
    """
    time, bin_index, proposal, weight = sampling_taps(tscale, num_sample, num_sample_perbin,
                                                      prop_boundary_ratio)
    row = bin_index * tscale + time
    duration, start = np.nonzero(valid_proposal_mask(tscale))
    tiles_per_duration = -(-tscale // tile[1])
    tile_id = (duration // tile[0]) * tiles_per_duration + start // tile[1]
    _, tile_of_proposal = np.unique(tile_id, return_inverse=True)
    slot_of_proposal = (duration % tile[0]) * tile[1] + start % tile[1]
    num_tiles, slots = tile_of_proposal.max() + 1, tile[0] * tile[1]
    # group the entries by tile once (stable sort), then each tile's distinct rows
    entry_tile = tile_of_proposal[proposal]
    order = np.argsort(entry_tile, kind="stable")
    bounds = np.searchsorted(entry_tile[order], np.arange(num_tiles + 1))
    tile_entries = [order[bounds[k]:bounds[k + 1]] for k in range(num_tiles)]
    tile_rows = [np.unique(row[entries]) for entries in tile_entries]
    row_index = np.zeros((num_tiles, max(len(rows) for rows in tile_rows)), dtype=np.int32)
    tile_matrix = np.zeros((num_tiles, slots, row_index.shape[1]), dtype=np.float32)
    for k, (rows, entries) in enumerate(zip(tile_rows, tile_entries)):
        row_index[k, :len(rows)] = rows
        tile_matrix[k, slot_of_proposal[proposal[entries]], np.searchsorted(rows, row[entries])] = weight[entries]
    map_index = np.full(tscale * tscale, num_tiles * slots, dtype=np.int32)
    map_index[duration * tscale + start] = tile_of_proposal * slots + slot_of_proposal
    return row_index.reshape(-1), tile_matrix, map_index


def _conv1d(in_channels, out_channels, kernel_size, group=1):
    padding = kernel_size // 2
    return nn.Conv1d(in_channels, out_channels, kernel_size, pad_mode="pad" if padding else "valid",
                     padding=padding, group=group, has_bias=True)


def _conv2d(in_channels, out_channels, kernel_size):
    padding = kernel_size // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, pad_mode="pad" if padding else "valid",
                     padding=padding, has_bias=True)


class BMN(nn.Cell):
    """Boundary-Matching Network; see the module docstring for layout and indexing."""

    def __init__(self, tscale: int = 100, feat_dim: int = 400, num_sample: int = 32,
                 num_sample_perbin: int = 3, prop_boundary_ratio: float = 0.5):
        super().__init__()
        if feat_dim % 4:
            raise ValueError(f"BMN feat_dim must be divisible by 4 (grouped convs), got {feat_dim}")
        if tscale < 2 or num_sample < 1 or num_sample_perbin < 1:
            raise ValueError(f"bad BMN sizes: tscale={tscale}, num_sample={num_sample}, "
                             f"num_sample_perbin={num_sample_perbin}")
        self.tscale = tscale
        self.feat_dim = feat_dim
        self.num_sample = num_sample

        self.x_1d_b = nn.SequentialCell([_conv1d(feat_dim, HIDDEN_1D, 3, group=4), nn.ReLU(),
                                         _conv1d(HIDDEN_1D, HIDDEN_1D, 3, group=4), nn.ReLU()])
        self.x_1d_s = nn.SequentialCell([_conv1d(HIDDEN_1D, HIDDEN_1D, 3, group=4), nn.ReLU(),
                                         _conv1d(HIDDEN_1D, 1, 1), nn.Sigmoid()])
        self.x_1d_e = nn.SequentialCell([_conv1d(HIDDEN_1D, HIDDEN_1D, 3, group=4), nn.ReLU(),
                                         _conv1d(HIDDEN_1D, 1, 1), nn.Sigmoid()])
        self.x_1d_p = nn.SequentialCell([_conv1d(HIDDEN_1D, HIDDEN_1D, 3), nn.ReLU()])
        # Only the kernel of this Conv3d is used (fused with the BM layer, see the module docstring);
        # the cell stays so parameter names and shapes match the ports.
        self.x_3d_p = nn.SequentialCell([
            nn.Conv3d(HIDDEN_1D, HIDDEN_3D, (num_sample, 1, 1), stride=(num_sample, 1, 1),
                      pad_mode="valid", has_bias=True),
            nn.ReLU()])
        self.x_2d_p = nn.SequentialCell([_conv2d(HIDDEN_3D, HIDDEN_2D, 1), nn.ReLU(),
                                         _conv2d(HIDDEN_2D, HIDDEN_2D, 3), nn.ReLU(),
                                         _conv2d(HIDDEN_2D, HIDDEN_2D, 3), nn.ReLU(),
                                         _conv2d(HIDDEN_2D, 2, 1), nn.Sigmoid()])

        row_index, tile_matrix, map_index = tiled_sampling(tscale, num_sample, num_sample_perbin,
                                                           prop_boundary_ratio)
        # Constants, not parameters: not trained and not written to checkpoints.
        self.row_index = Tensor(row_index)
        self.tile_matrix = Tensor(tile_matrix)
        self.map_index = Tensor(map_index)
        self.relu = nn.ReLU()

    def proposal_feature_map(self, pem_features):
        """BM layer + ``x_3d_p`` (see the module docstring): (B, 256, T) -> (B, 512, T, T), ReLU applied."""
        batch = pem_features.shape[0]
        conv3d = self.x_3d_p[0]
        # (512, 256, N, 1, 1) -> (512 * N, 256), rows ordered (out channel, bin).
        kernel = conv3d.weight.reshape(HIDDEN_3D, HIDDEN_1D, self.num_sample).transpose(0, 2, 1)
        kernel = kernel.reshape(HIDDEN_3D * self.num_sample, HIDDEN_1D)
        projected = [ops.matmul(kernel, pem_features[i]).reshape(HIDDEN_3D, self.num_sample * self.tscale)
                     for i in range(batch)]
        rows = ops.concat(projected, 0).T  # (N * T, B * 512): rows (bin, time), columns (video, channel)
        num_tiles, slots, rows_per_tile = self.tile_matrix.shape
        gathered = ops.gather(rows, self.row_index, 0).reshape(num_tiles, rows_per_tile, batch * HIDDEN_3D)
        tiles = ops.bmm(self.tile_matrix, gathered).reshape(num_tiles * slots, batch * HIDDEN_3D)
        tiles = ops.concat((tiles, ops.zeros((1, batch * HIDDEN_3D), tiles.dtype)), 0)
        full = ops.gather(tiles, self.map_index, 0)  # (T * T, B * 512)
        full = full.T.reshape(batch, HIDDEN_3D, self.tscale, self.tscale)
        return self.relu(full + conv3d.bias.reshape(1, HIDDEN_3D, 1, 1))

    def construct(self, x):
        base = self.x_1d_b(x)
        start = self.x_1d_s(base).squeeze(1)
        end = self.x_1d_e(base).squeeze(1)
        confidence_map = self.x_2d_p(self.proposal_feature_map(self.x_1d_p(base)))
        return confidence_map, start, end


def _bmn_kwargs_from_config(cfg) -> dict:
    return {"tscale": cfg.tscale, "feat_dim": cfg.feat_dim, "num_sample": cfg.num_sample,
            "num_sample_perbin": cfg.num_sample_perbin, "prop_boundary_ratio": cfg.prop_boundary_ratio}


@register_model("bmn", config_adapter=_bmn_kwargs_from_config, layout="NCT", task="localization")
def bmn(tscale: int = 100, feat_dim: int = 400, num_sample: int = 32, num_sample_perbin: int = 3,
        prop_boundary_ratio: float = 0.5, num_classes=None) -> BMN:
    """Build BMN. ``num_classes`` is accepted for the factory's common keywords and ignored:
    proposals are class-agnostic."""
    del num_classes
    return BMN(tscale, feat_dim, num_sample, num_sample_perbin, prop_boundary_ratio)
