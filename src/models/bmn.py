"""BMN: Boundary-Matching Network for temporal action proposal generation (Lin et al., ICCV 2019).

Layer for layer the network of the public PyTorch ports (JJBOY, mmaction2), with the same
parameter names (``x_1d_b.0.weight``, ``x_3d_p.0.weight``, ...) and 4,978,564 trainable parameters
at feat_dim 400, so weights convert 1:1 (MindSpore's Conv1d keeps its kernel as (out, in/groups,
1, k); :meth:`BMN.adapt_torch_state_dict` reshapes the ports' (out, in/groups, k) kernels and drops
their fixed ``sample_mask``):

* ``x_1d_b`` base module, ``x_1d_s`` / ``x_1d_e`` start / end heads (TEM),
* ``x_1d_p`` PEM 1-D features (``pem_channels`` wide: 256 in JJBOY / mmaction2, 128 in
  PaddleVideo), the boundary-matching (BM) layer, ``x_3d_p`` Conv3d with kernel (num_sample, 1, 1),
  ``x_2d_p`` Conv2d stack ending in a 2-channel sigmoid map.

Input (B, feat_dim, T), outputs ``(confidence_map (B, 2, T, T), start (B, T), end (B, T))``.
Channel 0 of the map is the IoU regression score, channel 1 the classification score.

Two map layouts (``bm_layout``), the two conventions of the public code; same parameters, different
sampling and indexing. With r = prop_boundary_ratio and positions in steps:

* ``duration_start`` (JJBOY October 2019, mmaction2, PaddleVideo): ``map[d, s]`` is the proposal
  [s, s + d + 1] (steps s .. s + d); it exists when s + d < T and is sampled over
  [s - r L, s + d + r L] with L = d + 1.
* ``start_end`` (JJBOY June 2020, commit a92c1d79): ``map[i, j]`` is the proposal [i, j + 1]; it
  exists when i <= j and is sampled over [i - r L, j + 1 + r L] with L = j - i + 2, one bin wider.

:func:`src.proposals.bm_layout.proposal_steps` gives every cell's [start, end] in steps and
:func:`~src.proposals.bm_layout.valid_proposal_mask` the cells that exist; the sampling, the training
targets, the loss mask and the post-processing read the layout only through these two, so both
conventions share one code path.

Speed. The ports multiply the (B, C, T) features with a fixed, mostly zero (T, num_sample * T * T)
sampling matrix (each sample interpolates two neighbouring steps) and run the Conv3d over the
(B, C, num_sample, T, T) result; these two steps dominate the cost. Both are linear, so here

1. the Conv3d kernel is applied first: (512 * num_sample, C) x (C, T) per video, cheap;
2. the sampling is ONE batched matmul with a constant tiled sampling matrix: existing proposals are
   grouped in tiles of 10 x 10 map cells, and each tile multiplies only the (bin, time) rows its
   proposals read (gathered once), skipping about 80 % of the zero entries;
3. a gather places the tiles in the map; cells without a proposal get the Conv3d bias only, as in
   the ports.

The result equals the ports' formulation up to float rounding (``tests/test_bmn_model.py`` checks
it against the dense matmul and the sampling matrices against direct constructions).
"""
from typing import Mapping, Tuple

import numpy as np
from mindspore import Tensor, nn, ops

from src.options import count, integer, non_negative, number, option
from src.proposals.bm_layout import BM_LAYOUTS, LAYOUT_ORIGIN, check_bm_layout, proposal_steps, valid_proposal_mask

from .registry import register_model
from .weights import to_numpy, unwrap_torch_state_dict

__all__ = ["BMN", "bmn", "BM_LAYOUTS", "valid_proposal_mask", "proposal_steps", "sample_points", "sampling_taps",
           "tiled_sampling", "dense_sampling_matrix", "check_bm_layout"]

HIDDEN_1D, HIDDEN_2D, HIDDEN_3D = 256, 128, 512
TILE = (10, 10)  # map cells per tile of the sampling matmul; measured fastest at T = 100


def sample_points(tscale: int, num_sample: int, num_sample_perbin: int, prop_boundary_ratio: float,
                  bm_layout: str = "duration_start") -> np.ndarray:
    """(T, T, num_sample * num_sample_perbin) float64 sample positions of every map cell.

    The sampled span is the proposal's, extended by ``prop_boundary_ratio`` of the convention's
    length on both sides (see the module docstring), in the ports' float64 arithmetic.
    """
    steps = proposal_steps(tscale, bm_layout)
    if bm_layout == "duration_start":
        low, high = steps[..., 0], steps[..., 1] - 1.0  # the ports sample from s to s + d
    else:
        low, high = steps[..., 0], steps[..., 1]  # [i, j + 1]
    center_len = (high - low) + 1.0
    seg_min = low - center_len * prop_boundary_ratio
    seg_max = high + center_len * prop_boundary_ratio
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


def sampling_taps(tscale: int, num_sample: int, num_sample_perbin: int, prop_boundary_ratio: float,
                  bm_layout: str = "duration_start"):
    """Non-zero entries of the sampling, one per (time step, bin, existing proposal).

    Returns ``(time, bin, proposal, weight)``; ``proposal`` numbers the cells of
    :func:`valid_proposal_mask` in row-major map order, and ``weight`` (float32) is the bin's
    average of the interpolation weights (summed in float64, as the ports).
    """
    points = sample_points(tscale, num_sample, num_sample_perbin, prop_boundary_ratio, bm_layout)
    points = points[valid_proposal_mask(tscale, bm_layout).astype(bool)]  # (V, num_sample * num_sample_perbin)
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


def dense_sampling_matrix(tscale: int, num_sample: int, num_sample_perbin: int, prop_boundary_ratio: float,
                          bm_layout: str = "duration_start") -> np.ndarray:
    """The ports' (T, num_sample * T * T) float32 ``sample_mask``: ``features (B, C, T) @ matrix``
    gives the BM features (B, C, num_sample, T, T) in the map layout ``bm_layout``."""
    time, bin_index, proposal, weight = sampling_taps(tscale, num_sample, num_sample_perbin,
                                                      prop_boundary_ratio, bm_layout)
    row, col = np.nonzero(valid_proposal_mask(tscale, bm_layout))
    matrix = np.zeros((tscale, num_sample, tscale, tscale), dtype=np.float32)
    matrix[time, bin_index, row[proposal], col[proposal]] = weight
    return matrix.reshape(tscale, -1)


def tiled_sampling(tscale: int, num_sample: int, num_sample_perbin: int, prop_boundary_ratio: float,
                   bm_layout: str = "duration_start", tile: Tuple[int, int] = TILE):
    """The sampling as K dense tiles of nearby proposals, for :meth:`BMN.proposal_feature_map`.

    Existing proposals are grouped in tiles of ``tile`` = (rows, columns) of the map; a tile reads
    only the (bin, time) rows its proposals sample. Returns

    * ``row_index`` (K * R,) int32: the rows (bin * T + time) each tile reads, zero-padded to R;
    * ``tile_matrix`` (K, S, R) float32: the weights of the tile's S = rows * columns slots;
    * ``map_index`` (T * T,) int32: for every map cell, its slot k * S + s, or K * S (an all-zero
      row) for cells without a proposal.
    """
    time, bin_index, proposal, weight = sampling_taps(tscale, num_sample, num_sample_perbin,
                                                      prop_boundary_ratio, bm_layout)
    row = bin_index * tscale + time
    map_row, map_col = np.nonzero(valid_proposal_mask(tscale, bm_layout))
    tiles_per_row = -(-tscale // tile[1])
    tile_id = (map_row // tile[0]) * tiles_per_row + map_col // tile[1]
    _, tile_of_proposal = np.unique(tile_id, return_inverse=True)
    slot_of_proposal = (map_row % tile[0]) * tile[1] + map_col % tile[1]
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
    map_index[map_row * tscale + map_col] = tile_of_proposal * slots + slot_of_proposal
    return row_index.reshape(-1), tile_matrix, map_index


def _conv1d(in_channels, out_channels, kernel_size, group=1):
    # "same" = kernel_size // 2 on both sides for these odd kernels; explicit pads would reach ONNX
    # in the wrong order (the exporter copies MindSpore's (top, bottom, left, right) as they are).
    return nn.Conv1d(in_channels, out_channels, kernel_size, pad_mode="same", group=group, has_bias=True)


def _conv2d(in_channels, out_channels, kernel_size):
    padding = kernel_size // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, pad_mode="pad" if padding else "valid",
                     padding=padding, has_bias=True)


class BMN(nn.Cell):
    """Boundary-Matching Network; see the module docstring for layout and indexing."""

    def __init__(self, tscale: int = 100, feat_dim: int = 400, num_sample: int = 32,
                 num_sample_perbin: int = 3, prop_boundary_ratio: float = 0.5,
                 bm_layout: str = "duration_start", pem_channels: int = HIDDEN_1D):
        super().__init__()
        if feat_dim % 4:
            raise ValueError(f"BMN feat_dim must be divisible by 4 (grouped convs), got {feat_dim}")
        if tscale < 2 or num_sample < 1 or num_sample_perbin < 1 or pem_channels < 1:
            raise ValueError(f"bad BMN sizes: tscale={tscale}, num_sample={num_sample}, "
                             f"num_sample_perbin={num_sample_perbin}, pem_channels={pem_channels}")
        self.tscale = tscale
        self.feat_dim = feat_dim
        self.num_sample = num_sample
        self.bm_layout = check_bm_layout(bm_layout)
        self.sampling = (num_sample_perbin, prop_boundary_ratio)
        self.pem_channels = pem_channels
        self.conversion_notes = []  # what adapt_torch_state_dict changed, for the converter to print

        self.x_1d_b = nn.SequentialCell([_conv1d(feat_dim, HIDDEN_1D, 3, group=4), nn.ReLU(),
                                         _conv1d(HIDDEN_1D, HIDDEN_1D, 3, group=4), nn.ReLU()])
        self.x_1d_s = nn.SequentialCell([_conv1d(HIDDEN_1D, HIDDEN_1D, 3, group=4), nn.ReLU(),
                                         _conv1d(HIDDEN_1D, 1, 1), nn.Sigmoid()])
        self.x_1d_e = nn.SequentialCell([_conv1d(HIDDEN_1D, HIDDEN_1D, 3, group=4), nn.ReLU(),
                                         _conv1d(HIDDEN_1D, 1, 1), nn.Sigmoid()])
        self.x_1d_p = nn.SequentialCell([_conv1d(HIDDEN_1D, pem_channels, 3), nn.ReLU()])
        # Only the kernel of this Conv3d is used (fused with the BM layer, see the module docstring);
        # the cell stays so parameter names and shapes match the ports.
        self.x_3d_p = nn.SequentialCell([
            nn.Conv3d(pem_channels, HIDDEN_3D, (num_sample, 1, 1), stride=(num_sample, 1, 1),
                      pad_mode="valid", has_bias=True),
            nn.ReLU()])
        self.x_2d_p = nn.SequentialCell([_conv2d(HIDDEN_3D, HIDDEN_2D, 1), nn.ReLU(),
                                         _conv2d(HIDDEN_2D, HIDDEN_2D, 3), nn.ReLU(),
                                         _conv2d(HIDDEN_2D, HIDDEN_2D, 3), nn.ReLU(),
                                         _conv2d(HIDDEN_2D, 2, 1), nn.Sigmoid()])

        row_index, tile_matrix, map_index = tiled_sampling(tscale, num_sample, num_sample_perbin,
                                                           prop_boundary_ratio, bm_layout)
        # Constants, not parameters: not trained and not written to checkpoints.
        self.row_index = Tensor(row_index)
        self.tile_matrix = Tensor(tile_matrix)
        self.map_index = Tensor(map_index)
        self.relu = nn.ReLU()

    def proposal_feature_map(self, pem_features):
        """BM layer + ``x_3d_p`` (see the module docstring): (B, C, T) -> (B, 512, T, T), ReLU applied."""
        batch = pem_features.shape[0]
        conv3d = self.x_3d_p[0]
        # (512, C, N, 1, 1) -> (512 * N, C), rows ordered (out channel, bin).
        kernel = conv3d.weight.reshape(HIDDEN_3D, self.pem_channels, self.num_sample).transpose(0, 2, 1)
        kernel = kernel.reshape(HIDDEN_3D * self.num_sample, self.pem_channels)
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

    def sampling_layout_of(self, sample_mask: np.ndarray) -> str:
        """The ``bm_layout`` whose sampling matrix equals a port's ``sample_mask`` (T, N * T * T),
        or "" when neither does (another tscale / num_sample / ratio)."""
        for layout in (self.bm_layout,) + tuple(other for other in BM_LAYOUTS if other != self.bm_layout):
            expected = dense_sampling_matrix(self.tscale, self.num_sample, *self.sampling, bm_layout=layout)
            if sample_mask.shape == expected.shape and np.allclose(sample_mask, expected, atol=1e-6):
                return layout
        return ""

    def adapt_torch_state_dict(self, state: Mapping, load_fc: bool = True) -> dict:
        """A JJBOY / mmaction2 state dict in this network's form (``load_fc`` is accepted for the
        converter's common call and ignored: BMN has no classifier).

        Unwraps ``state_dict`` / ``module.``, reshapes Conv1d kernels (out, in/groups, k) to
        (out, in/groups, 1, k), and drops the fixed ``sample_mask`` after checking that it is this
        network's sampling (noted in ``conversion_notes``): a checkpoint of the other convention is
        refused, naming it. mmaction2's ``bm_mask`` buffer (the loss's mask of valid map cells) is
        checked against the duration_start mask at this tscale and dropped the same way.
        """
        del load_fc
        tensors = unwrap_torch_state_dict(state)
        sample_mask = tensors.pop("sample_mask", None)
        if sample_mask is not None:
            mask = to_numpy(sample_mask)
            layout = self.sampling_layout_of(mask)
            if not layout:
                raise ValueError(f"the checkpoint's sample_mask (shape {mask.shape}) is neither BMN convention at "
                                 f"tscale {self.tscale}, num_sample {self.num_sample}, num_sample_perbin "
                                 f"{self.sampling[0]}, prop_boundary_ratio {self.sampling[1]}; set these to "
                                 f"the checkpoint's")
            if layout != self.bm_layout:
                raise ValueError(f"the checkpoint was trained with bm_layout {layout} "
                                 f"({LAYOUT_ORIGIN[layout]}), the network uses {self.bm_layout}; convert and "
                                 f"run it with bm_layout {layout} (pt2ckpt: --kwargs bm_layout={layout})")
            self.conversion_notes.append(f"dropped the checkpoint's sample_mask: the fixed sampling matrix of "
                                         f"bm_layout {layout}, rebuilt by the network (not a weight)")
        bm_mask = tensors.pop("bm_mask", None)  # mmaction2's checkpoints since 2022: the loss's map mask
        if bm_mask is not None:
            mask = to_numpy(bm_mask)
            expected = valid_proposal_mask(self.tscale, "duration_start")
            if mask.shape != expected.shape or not np.array_equal(mask, expected):
                raise ValueError(f"the checkpoint's bm_mask (shape {mask.shape}) is not the mask of valid "
                                 f"duration_start proposals at tscale {self.tscale}; set tscale to the checkpoint's")
            self.conversion_notes.append("dropped the checkpoint's bm_mask: the fixed mask of valid proposals, "
                                         "rebuilt by the loss (not a weight)")
        by_name = {param.name: param for param in self.get_parameters()}
        adapted = {}
        for key, value in tensors.items():
            param = by_name.get(key)
            if param is not None and len(param.shape) == 4 and len(np.shape(value)) == 3 and key.startswith("x_1d"):
                value = to_numpy(value)[:, :, None, :]
            adapted[key] = value
        return adapted


# The configuration keys of bmn. tscale, feat_dim and bm_layout are shared keys (src/options.py): the
# feature data, the localization task and the proposal code read them too.
CONFIG_OPTIONS = [
    option("num_sample", 32, count(integer), "BMN boundary-matching samples per proposal"),
    option("num_sample_perbin", 3, count(integer), "BMN sub-samples per bin"),
    option("prop_boundary_ratio", 0.5, non_negative(number), "BMN proposal boundary extension ratio"),
    option("pem_channels", HIDDEN_1D, count(integer), "BMN PEM 1-D channels (256 JJBOY / mmaction2, 128 PaddleVideo)"),
]


def _bmn_kwargs_from_config(cfg) -> dict:
    return {"tscale": cfg.tscale, "feat_dim": cfg.feat_dim, "num_sample": cfg.num_sample,
            "num_sample_perbin": cfg.num_sample_perbin, "prop_boundary_ratio": cfg.prop_boundary_ratio,
            "bm_layout": cfg.bm_layout, "pem_channels": cfg.pem_channels}


@register_model("bmn", config_adapter=_bmn_kwargs_from_config, layout="NCT", task="localization",
                options=CONFIG_OPTIONS)
def bmn(tscale: int = 100, feat_dim: int = 400, num_sample: int = 32, num_sample_perbin: int = 3,
        prop_boundary_ratio: float = 0.5, bm_layout: str = "duration_start", pem_channels: int = HIDDEN_1D,
        num_classes=None) -> BMN:
    """Build BMN. ``num_classes`` is accepted for the factory's common keywords and ignored:
    proposals are class-agnostic."""
    del num_classes
    return BMN(tscale, feat_dim, num_sample, num_sample_perbin, prop_boundary_ratio, bm_layout, pem_channels)
