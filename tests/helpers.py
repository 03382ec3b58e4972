"""Small helpers shared by several test files."""
import socket

import cv2
import numpy as np


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now (for msrun's master)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def decode_video(path) -> np.ndarray:
    """Every frame OpenCV decodes from ``path``, stacked (T, H, W, 3) BGR."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return np.stack(frames)


def no_decoding(path):
    """Stands in for ``count_video_frames`` where nothing may decode a whole video."""
    raise AssertionError(f"{path} decoded whole before the first step")
