"""Geometry of the boundary-matching map in its two public conventions (``bm_layout``), NumPy only
so that post-processing workers do not load the network code.

* ``duration_start`` (JJBOY October 2019, mmaction2, PaddleVideo): cell ``[d, s]`` is the proposal
  [s, s + d + 1] in steps; it exists when s + d < T.
* ``start_end`` (JJBOY June 2020, commit a92c1d79): cell ``[i, j]`` is the proposal [i, j + 1]; it
  exists when i <= j.

The network (:mod:`src.models.bmn`), the training targets, the loss mask and the post-processing
read the layout only through :func:`proposal_steps` and :func:`valid_proposal_mask`.
"""
import numpy as np

__all__ = ["BM_LAYOUTS", "LAYOUT_ORIGIN", "check_bm_layout", "proposal_steps", "valid_proposal_mask"]

BM_LAYOUTS = ("duration_start", "start_end")
LAYOUT_ORIGIN = {"duration_start": "JJBOY October 2019 / mmaction2 / PaddleVideo",
                 "start_end": "JJBOY June 2020, commit a92c1d79"}


def check_bm_layout(bm_layout: str) -> str:
    """``bm_layout`` itself; ValueError naming the two conventions otherwise."""
    if bm_layout not in BM_LAYOUTS:
        raise ValueError(f"bm_layout must be one of {BM_LAYOUTS}, got {bm_layout!r}")
    return bm_layout


def proposal_steps(tscale: int, bm_layout: str = "duration_start") -> np.ndarray:
    """(T, T, 2) float64 [start, end] in steps of the proposal of every map cell (end exclusive:
    the segment in [0, 1] units is this / T)."""
    row = np.arange(tscale, dtype=np.float64)[:, None]
    col = np.arange(tscale, dtype=np.float64)[None, :]
    if check_bm_layout(bm_layout) == "duration_start":
        start, end = col, col + row + 1.0
    else:
        start, end = row, col + 1.0
    return np.stack(np.broadcast_arrays(start, end), axis=-1)


def valid_proposal_mask(tscale: int, bm_layout: str = "duration_start") -> np.ndarray:
    """(T, T) float32: 1 on the cells that hold a proposal inside the video (duration_start:
    start + duration < T; start_end: start <= end)."""
    steps = proposal_steps(tscale, bm_layout)
    return ((steps[..., 1] <= tscale) & (steps[..., 1] > steps[..., 0])).astype(np.float32)
