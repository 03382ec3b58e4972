"""A recognizer's pooled features as a cell of their own, for feature extraction and benchmarks."""
from mindspore import nn

__all__ = ["Features"]


class Features(nn.Cell):
    """``recognizer.forward_features`` as a cell: the recognizer's input layout in, ``(B, num_features)``
    out (the pooled features its classifier reads). Shares the recognizer's parameters."""

    def __init__(self, recognizer: nn.Cell):
        super().__init__()
        if not hasattr(recognizer, "forward_features"):
            raise TypeError(f"{type(recognizer).__name__} has no forward_features: only recognizers give "
                            f"snippet features")
        self.recognizer = recognizer
        self.num_features = int(recognizer.num_features)

    def construct(self, x):
        return self.recognizer.forward_features(x)
