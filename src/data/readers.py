"""Frame readers: fetch the frames a temporal sampler chose, as one uint8 array per clip.

* :class:`RGBFrameReader`  - ``image_00001.jpg`` frame folders -> (N, H, W, 3) RGB;
* :class:`FlowFrameReader` - ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` -> (N, H, W, 2) (x, y);
* :class:`VideoFileReader` - a video file decoded on the fly with OpenCV -> (N, H, W, 3) RGB.

Indices are 0-based; file names are 1-based. Each distinct frame is decoded once even when a
loop-padded clip repeats it. Any unreadable input raises :class:`FrameReadError` naming the file,
so a worker never yields a silently wrong batch.
"""
import os

import cv2
import numpy as np

__all__ = ["FrameReadError", "RGBFrameReader", "FlowFrameReader", "VideoFileReader", "count_video_frames"]


class FrameReadError(IOError):
    """A frame or video that cannot be decoded."""


def _imread(path: str, flags: int) -> np.ndarray:
    image = cv2.imread(path, flags)
    if image is None:
        reason = "missing" if not os.path.exists(path) else "unreadable or corrupt"
        raise FrameReadError(f"frame {path} is {reason}; re-extract this video's frames "
                             f"(src.tools.data.generate_rgb_jpgs / convert_rgb_to_flow)")
    return image


def _gather(indices: np.ndarray, read_one) -> np.ndarray:
    unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    frames = np.stack([read_one(int(i)) for i in unique])
    return frames[inverse]


class RGBFrameReader:
    """Reads RGB frames of a frame folder. ``read(folder, indices) -> uint8 (N, H, W, 3)``."""

    modality = "rgb"

    def __init__(self, template: str = "image_{:05d}.jpg"):
        self.template = template

    def read(self, folder: str, indices: np.ndarray) -> np.ndarray:
        def read_one(i):
            return cv2.cvtColor(_imread(os.path.join(folder, self.template.format(i + 1)), cv2.IMREAD_COLOR),
                                cv2.COLOR_BGR2RGB)
        return _gather(indices, read_one)


class FlowFrameReader:
    """Reads flow frames. ``read(folder, indices) -> uint8 (N, H, W, 2)``, channel 0 = x, 1 = y.

    Values are the stored 0..255 encoding of flow clipped to +-20 (127.5 = no motion).
    """

    modality = "flow"

    def __init__(self, template: str = "flow_{}_{:05d}.jpg"):
        self.template = template

    def read(self, folder: str, indices: np.ndarray) -> np.ndarray:
        def read_one(i):
            x = _imread(os.path.join(folder, self.template.format("x", i + 1)), cv2.IMREAD_GRAYSCALE)
            y = _imread(os.path.join(folder, self.template.format("y", i + 1)), cv2.IMREAD_GRAYSCALE)
            if x.shape != y.shape:
                raise FrameReadError(f"flow frames {i + 1} of {folder} differ in size: x {x.shape}, y {y.shape}")
            return np.stack([x, y], axis=-1)
        return _gather(indices, read_one)


def count_video_frames(path: str) -> int:
    """Frames of a video file as its container reports them (0 when it cannot be opened)."""
    capture = cv2.VideoCapture(path)
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()


class VideoFileReader:
    """Decodes the needed frames of a video file. ``read(path, indices) -> uint8 (N, H, W, 3)``.

    Decoding is sequential up to the last needed frame; frames in between are skipped with
    ``grab`` (no colour conversion), so short clips of long videos stay cheap.
    """

    modality = "rgb"

    def read(self, path: str, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        wanted = set(int(i) for i in np.unique(indices))
        last = max(wanted)
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            raise FrameReadError(f"video {path} cannot be opened (missing or not a video); "
                                 f"check the file or extract frames with src.tools.data.generate_rgb_jpgs")
        decoded = {}
        try:
            for position in range(last + 1):
                if not capture.grab():
                    raise FrameReadError(f"video {path} ends at frame {position} but frame {last} was "
                                         f"requested: the file is truncated or its frame count is wrong")
                if position in wanted:
                    ok, frame = capture.retrieve()
                    if not ok:
                        raise FrameReadError(f"video {path}: frame {position} cannot be decoded")
                    decoded[position] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
        return _gather(indices, decoded.__getitem__)
