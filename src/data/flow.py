"""Optical flow between two greyscale frames and its 8-bit storage encoding.

Shared by the flow tool (``src.tools.data.convert_rgb_to_flow``, which writes flow JPEGs) and the
readers that compute flow on the fly (:class:`src.data.readers.VideoFlowReader`), so both give a
network the same values.

Methods: ``tvl1`` (OpenCV's Dual TV-L1 with its default parameters, the I3D paper's choice),
``dis`` (DIS, medium preset; 70-150x faster), ``farneback`` (about 30x faster).
"""
import cv2
import numpy as np

__all__ = ["FLOW_METHODS", "compute_flow", "flow_to_uint8"]

FLOW_METHODS = ("tvl1", "dis", "farneback")
_ESTIMATORS = {}  # one estimator per method and process: creating TV-L1/DIS objects is not free


def _estimator(method: str):
    if method not in _ESTIMATORS:
        if method == "tvl1":
            _ESTIMATORS[method] = cv2.optflow.DualTVL1OpticalFlow_create()
        elif method == "dis":
            _ESTIMATORS[method] = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        else:
            raise ValueError(f"unknown flow method {method!r}; choose one of {FLOW_METHODS}")
    return _ESTIMATORS[method]


def compute_flow(previous_grey: np.ndarray, next_grey: np.ndarray, method: str = "tvl1") -> np.ndarray:
    """Dense flow (H, W, 2) float32 in pixels from ``previous_grey`` to ``next_grey`` (uint8, H x W):
    ``previous(y, x)`` matches ``next(y + flow[..., 1], x + flow[..., 0])``."""
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(previous_grey, next_grey, None, pyr_scale=0.5, levels=3,
                                            winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    return _estimator(method).calc(previous_grey, next_grey, None)


def flow_to_uint8(flow: np.ndarray, bound: float = 20.0) -> np.ndarray:
    """Clip to +-bound and map linearly to 0..255 (``(f + bound) * 255 / (2 * bound)``), rounded."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)
