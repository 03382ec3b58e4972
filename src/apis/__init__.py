"""Python APIs on top of the model zoo: :mod:`src.apis.inference` (what is in my video?)."""
from .inference import Prediction, Recognizer, inference_recognizer, init_recognizer, predict_videos

__all__ = ["Recognizer", "Prediction", "init_recognizer", "inference_recognizer", "predict_videos"]
