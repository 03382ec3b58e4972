"""Frame readers: fetch the frames a temporal sampler chose, as one uint8 array per clip.

* :class:`RGBFrameReader`  - ``image_00001.jpg`` frame folders -> (N, H, W, 3) RGB;
* :class:`FlowFrameReader` - ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` -> (N, H, W, 2) (x, y);
* :class:`VideoFileReader` - a video file decoded on the fly with OpenCV -> (N, H, W, 3) RGB;
* :class:`VideoFlowReader` - flow computed on the fly from a video file -> (N, H, W, 2).

Frame file names follow a template and a start index (``rgb_template``, ``flow_template``,
``frame_start_index``: mmaction2 / PaddleVideo rawframes are ``img_{:05d}.jpg`` and
``{}_{:05d}.jpg``, numbered from 1 or 0); indices are 0-based, file number = index + start index.
Each distinct frame is decoded once even when a loop-padded clip repeats it. Any unreadable input
raises :class:`FrameReadError` naming the file, so a worker never yields a silently wrong batch.

Frame counts of video files: the decoder's (:func:`count_video_frames`) where a full count is cached,
else the container header's (:func:`declared_frame_count`, one open, no decode), checked as the clip
is read: variable-frame-rate files declare more frames than they hold and truncated files fewer than
they declare, so a read that runs past the real end raises :class:`ShortVideoError` carrying the real
count, and the caller samples again within it (:meth:`DecodeCount.problem` names why it fell short).
"""
import os
from dataclasses import dataclass

import cv2
import numpy as np

from .flow import compute_flow, flow_to_uint8

__all__ = ["FrameReadError", "ShortVideoError", "RGBFrameReader", "FlowFrameReader", "VideoFileReader",
           "VideoFlowReader", "DecodeCount", "count_video_frames", "declared_frame_count", "frame_file",
           "DEFAULT_RGB_TEMPLATE", "DEFAULT_FLOW_TEMPLATE"]

DEFAULT_RGB_TEMPLATE = "image_{:05d}.jpg"
DEFAULT_FLOW_TEMPLATE = "flow_{}_{:05d}.jpg"
# A decode may fall short of the header's count by this share before it is worth a warning (real
# AVI headers are often a few frames off).
SHORT_DECODE_TOLERANCE = 0.05
# Decoded frames that reach this share of the header's duration span the whole video: the header's
# count is an estimate (variable frame rate), the file is not truncated.
FULL_COVERAGE = 0.85


class FrameReadError(IOError):
    """A frame or video that cannot be decoded."""


class ShortVideoError(FrameReadError):
    """A video that ended before a requested frame; ``count`` is what the decode delivered up to its end."""

    def __init__(self, path: str, requested: int, count: "DecodeCount"):
        super().__init__(f"video {path} ends after {count.frames} frames but frame {requested} was requested "
                         f"({count.problem() or 'shorter than counted'})")
        self.path = path
        self.count = count


def frame_file(template: str, index: int, start_index: int = 1, axis: str = "") -> str:
    """File name of 0-based frame ``index`` (``axis`` 'x' / 'y' for flow templates)."""
    number = index + start_index
    try:
        return template.format(axis, number) if axis else template.format(number)
    except (IndexError, KeyError, ValueError) as err:
        expected = "'{}' for x/y then '{:05d}' for the number" if axis else "one '{:05d}' for the number"
        raise FrameReadError(f"frame-name template {template!r} is not usable ({err}); it needs {expected} "
                             f"(set rgb_template / flow_template)") from err


def _missing_frame_hint(path: str) -> str:
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return "its folder does not exist"
    present = sorted(name for name in os.listdir(folder) if name.lower().endswith((".jpg", ".jpeg", ".png")))
    if not present:
        return "its folder holds no frame; extract this video's frames (src.tools.data.generate_rgb_jpgs)"
    return (f"the folder holds {', '.join(present[:3])}{' ...' if len(present) > 3 else ''}: if its frames are "
            f"named another way (mmaction2 rawframes: img_00001.jpg, x_00001.jpg / y_00001.jpg, possibly from 0) "
            f"set rgb_template / flow_template / frame_start_index; otherwise re-extract this video's frames")


def _jpeg_is_complete(path: str) -> bool:
    """Whether a JPEG file ends with its end-of-image marker (FF D9, possibly followed by a little
    padding): OpenCV decodes a truncated JPEG without error and fills the missing part with grey.
    Costs one read of the file's last bytes, which the decode just brought into the page cache."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(handle.tell() - 64, 0))
        return b"\xff\xd9" in handle.read()


def _imread(path: str, flags: int) -> np.ndarray:
    image = cv2.imread(path, flags)
    if image is not None and path.lower().endswith((".jpg", ".jpeg")) and not _jpeg_is_complete(path):
        raise FrameReadError(f"frame {path} is truncated (no JPEG end marker; its lower part would be grey); "
                             f"re-extract this video's frames (src.tools.data.generate_rgb_jpgs / convert_rgb_to_flow)")
    if image is None:
        if not os.path.exists(path):
            raise FrameReadError(f"frame {path} is missing; {_missing_frame_hint(path)}")
        raise FrameReadError(f"frame {path} is unreadable or corrupt; re-extract this video's frames "
                             f"(src.tools.data.generate_rgb_jpgs / convert_rgb_to_flow)")
    return image


def _gather(indices: np.ndarray, read_one, source: str = "") -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    unique, inverse = np.unique(indices, return_inverse=True)
    frames = [read_one(int(i)) for i in unique]
    sizes = {}
    for index, frame in zip(unique, frames):
        sizes.setdefault(frame.shape[:2], int(index))
    if len(sizes) > 1:
        found = ", ".join(f"{h}x{w} (frame index {index})" for (h, w), index in sizes.items())
        raise FrameReadError(f"frames of {source or 'one video'} differ in size: {found}; every frame of a video "
                             f"must have one size: re-extract this video's frames")
    stacked = np.stack(frames)
    # a clip that repeats no frame and keeps their order is the stack itself: no second copy
    return stacked if len(unique) == len(inverse) and np.array_equal(unique, indices) else stacked[inverse]


class RGBFrameReader:
    """Reads RGB frames of a frame folder. ``read(folder, indices) -> uint8 (N, H, W, 3)``."""

    modality = "rgb"

    def __init__(self, template: str = DEFAULT_RGB_TEMPLATE, start_index: int = 1):
        self.template = template
        self.start_index = start_index

    def read(self, folder: str, indices: np.ndarray) -> np.ndarray:
        def read_one(i):
            path = os.path.join(folder, frame_file(self.template, i, self.start_index))
            return cv2.cvtColor(_imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return _gather(indices, read_one, folder)


class FlowFrameReader:
    """Reads flow frames. ``read(folder, indices) -> uint8 (N, H, W, 2)``, channel 0 = x, 1 = y.

    Values are the stored 0..255 encoding of flow clipped to +-20 (127.5 = no motion).
    """

    modality = "flow"

    def __init__(self, template: str = DEFAULT_FLOW_TEMPLATE, start_index: int = 1):
        self.template = template
        self.start_index = start_index

    def read(self, folder: str, indices: np.ndarray) -> np.ndarray:
        def read_one(i):
            x = _imread(os.path.join(folder, frame_file(self.template, i, self.start_index, "x")),
                        cv2.IMREAD_GRAYSCALE)
            y = _imread(os.path.join(folder, frame_file(self.template, i, self.start_index, "y")),
                        cv2.IMREAD_GRAYSCALE)
            if x.shape != y.shape:
                raise FrameReadError(f"flow frames {i + 1} of {folder} differ in size: x {x.shape}, y {y.shape}; "
                                     f"re-extract this video's flow (src.tools.data.convert_rgb_to_flow)")
            return np.stack([x, y], axis=-1)
        return _gather(indices, read_one, folder)


@dataclass(frozen=True)
class DecodeCount:
    """Frames a decoder delivered from a video file, beside what its header declares.

    ``frames``: decoded frames (0 when the file cannot be opened); ``declared``: the header's count
    (0 when unknown); ``fps``: the header's frame rate; ``last_ms``: time stamp of the last decoded frame.
    """
    frames: int
    declared: int = 0
    fps: float = 0.0
    last_ms: float = 0.0

    def seconds(self) -> float:
        """Seconds the decoded frames span: the last frame's time stamp plus one frame at the header's
        rate (the header's frames / rate is wrong for a variable-frame-rate file); frames / rate when the
        decoder gave no time stamps."""
        if self.last_ms > 0:
            return self.last_ms / 1000.0 + 1.0 / self.fps
        return self.frames / self.fps

    def problem(self) -> str:
        """Why the decode falls short of the header ('' when it does not, within a tolerance).

        A decode whose frames span the header's duration comes from a variable-frame-rate file (the
        header's count is duration x nominal rate); one that stops early comes from a truncated file.
        """
        if not self.declared or self.declared - self.frames <= max(1, SHORT_DECODE_TOLERANCE * self.declared):
            return ""
        if self.fps > 0:
            duration_s = self.declared / self.fps
            covered_s = self.seconds()
            if covered_s >= FULL_COVERAGE * duration_s:
                return (f"variable frame rate: the header declares {self.declared} frames, the decoder delivers "
                        f"{self.frames} spanning the whole {duration_s:.1f} s; using {self.frames}")
            return (f"decoded {self.frames} of the {self.declared} frames the header declares, up to "
                    f"{covered_s:.1f} of {duration_s:.1f} s: the file is truncated or damaged; using {self.frames}")
        return (f"decoded {self.frames} of the {self.declared} frames the header declares (truncated or damaged "
                f"file?); using {self.frames}")


def count_video_frames(path: str) -> DecodeCount:
    """Decode ``path`` once (without colour conversion) and count its frames; see :class:`DecodeCount`."""
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return DecodeCount(0)
        declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames, last_ms = 0, 0.0
        while capture.grab():
            frames += 1
            last_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
        return DecodeCount(frames, declared, fps, last_ms)
    finally:
        capture.release()


def declared_frame_count(path: str) -> int:
    """The frame count a video's container declares (one open, no decode); a container that declares
    none is counted by decoding. FrameReadError when the file cannot be opened as a video."""
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise FrameReadError(f"video {path} cannot be opened (empty, unreadable or not a video); check the "
                                 f"file or remove it from the list")
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    return declared if declared > 0 else count_video_frames(path).frames


class VideoFileReader:
    """Decodes the needed frames of a video file. ``read(path, indices) -> uint8 (N, H, W, 3)``.

    Decoding is sequential up to the last needed frame; frames in between are skipped with
    ``grab`` (no colour conversion), so short clips of long videos stay cheap. ``frame_count(path)``
    is the container's count, checked by ``read`` (:class:`ShortVideoError` past the real end).
    """

    modality = "rgb"
    frame_count = staticmethod(declared_frame_count)

    def read(self, path: str, indices: np.ndarray) -> np.ndarray:
        decoded = _decode(path, indices, cv2.COLOR_BGR2RGB)
        return _gather(indices, decoded.__getitem__, path)


def _decode(path: str, indices, conversion: int) -> dict:
    """``{position: frame}`` of the distinct 0-based ``indices`` of a video, converted by ``conversion``."""
    wanted = set(int(i) for i in np.unique(np.asarray(indices, dtype=np.int64)))
    last = max(wanted)
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise FrameReadError(f"video {path} cannot be opened (missing or not a video); "
                             f"check the file or extract frames with src.tools.data.generate_rgb_jpgs")
    decoded, last_ms = {}, 0.0
    try:
        for position in range(last + 1):
            if not capture.grab():
                declared = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
                count = DecodeCount(position, declared, float(capture.get(cv2.CAP_PROP_FPS) or 0.0), last_ms)
                raise ShortVideoError(path, last, count)
            last_ms = float(capture.get(cv2.CAP_PROP_POS_MSEC))
            if position in wanted:
                ok, frame = capture.retrieve()
                if not ok:
                    raise FrameReadError(f"video {path}: frame {position} cannot be decoded")
                decoded[position] = cv2.cvtColor(frame, conversion)
    finally:
        capture.release()
    return decoded


class VideoFlowReader:
    """Optical flow computed on the fly from a video file. ``read(path, indices) -> uint8 (N, H, W, 2)``.

    Flow frame ``i`` is the motion from frame ``i`` to ``i + 1`` (a video of n frames has n - 1), as
    ``src.tools.data.convert_rgb_to_flow`` computes and stores it: clipped to +-``bound``, mapped to
    0..255 and passed through the same JPEG encoding (``jpeg_quality``), so a network trained on
    stored flow sees the values it was trained on.
    """

    modality = "flow"

    def __init__(self, method: str = "tvl1", bound: float = 20.0, jpeg_quality: int = 95):
        self.method = method
        self.bound = bound
        self.jpeg_quality = jpeg_quality

    def _stored(self, channel: np.ndarray) -> np.ndarray:
        _, encoded = cv2.imencode(".jpg", channel, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
        return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)

    def read(self, path: str, indices: np.ndarray) -> np.ndarray:
        unique = np.unique(np.asarray(indices, dtype=np.int64))
        grey = _decode(path, np.concatenate([unique, unique + 1]), cv2.COLOR_BGR2GRAY)

        def read_one(i):
            encoded = flow_to_uint8(compute_flow(grey[i], grey[i + 1], self.method), self.bound)
            return np.stack([self._stored(encoded[..., 0]), self._stored(encoded[..., 1])], axis=-1)
        return _gather(indices, read_one, path)
