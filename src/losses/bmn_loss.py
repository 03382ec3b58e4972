"""BMN loss: TEM + 10 * PEM regression + PEM classification (Lin et al., 2019; the public ports).

* TEM: weighted binary logistic loss on the start and on the end probabilities; positives are
  targets > 0.5, the weights come from the positive ratio of the whole batch.
* PEM regression: L2 on map channel 0 over a balanced sample of proposals: every high-IoU one
  (> 0.7), and medium (0.3 .. 0.7) and low (0 .. 0.3) ones kept at random with probability
  #high / #medium and #high / #low, so each band contributes about as many as the high band.
* PEM classification: weighted binary logistic loss on map channel 1, positives at IoU > 0.9.

Only the map cells that hold a proposal count (``valid_proposal_mask`` of the map's
``bm_layout``). ``eps`` is the constant inside the logs: 1e-6 in JJBOY's code, 1e-5 in mmaction2's
(the classification term differs by about 1e-4 relative between the two).

Robustness: the ports divide by the number of positives / sampled entries and give NaN for a batch
without positive or without high-IoU proposal; every such ratio here is guarded (denominators are at
least 1), so those batches give a finite loss. One deliberate difference: the random selection keeps
entries of the medium / low band only (the ports' expression also selects entries outside the band
once #high exceeds the band size).

Randomness: the uniform draws of the sampling come from :class:`src.models.blocks.CountedUniform`
seeded from ``mindspore.set_seed`` (``seed_everything``), so a run with the same seed samples the same
masks, and a resumed run continues their sequence (its draw counter is saved with the checkpoint).
"""
import mindspore as ms
from mindspore import Tensor, nn, ops

from src.models.blocks import CountedUniform
from src.proposals.bm_layout import valid_proposal_mask

__all__ = ["BMNLoss", "BMNWithLoss", "binary_logistic_loss"]

DEFAULT_EPS = 1e-5
RATIO_RANGE = (1.05, 21.0)


def binary_logistic_loss(score, target, threshold=0.5, mask=None, eps=DEFAULT_EPS):
    """Class-balanced binary logistic loss of the ports (TEM and PEM classification).

    With ``mask`` (PEM), only entries where mask = 1 count and the loss is a sum over them divided
    by their number; without it (TEM) it is the mean over every entry.
    """
    positive = ops.cast(target > threshold, ms.float32)
    negative = 1.0 - positive
    if mask is not None:
        negative = negative * mask
        positive = positive * mask
    num_positive = ops.maximum(positive.sum(), 1.0)
    num_entries = num_positive + negative.sum() if mask is not None else ops.cast(ops.size(target), ms.float32)
    ratio = ops.clamp(num_entries / num_positive, RATIO_RANGE[0], RATIO_RANGE[1])
    coef_negative = 0.5 * ratio / (ratio - 1.0)
    coef_positive = 0.5 * ratio
    log_likelihood = (coef_positive * positive * ops.log(score + eps)
                      + coef_negative * negative * ops.log(1.0 - score + eps))
    return -log_likelihood.sum() / num_entries


class BMNLoss(nn.Cell):
    """``construct(confidence_map, start, end, gt_iou_map, gt_start, gt_end)`` ->
    ``(total, tem, pem_reg, pem_cls)``; maps in the ``bm_layout`` of the network, shapes
    (B, 2, T, T) / (B, T) / (B, T, T)."""

    def __init__(self, tscale: int, bm_layout: str = "duration_start", eps: float = DEFAULT_EPS,
                 weight_tem: float = 1.0, weight_pem_reg: float = 10.0, weight_pem_cls: float = 1.0,
                 high_iou: float = 0.7, low_iou: float = 0.3, positive_iou: float = 0.9):
        super().__init__()
        self.bm_mask = Tensor(valid_proposal_mask(tscale, bm_layout))
        self.eps = eps
        self.weights = (weight_tem, weight_pem_reg, weight_pem_cls)
        self.high_iou, self.low_iou, self.positive_iou = high_iou, low_iou, positive_iou
        self.uniform = CountedUniform(*_random_seeds())

    def tem_loss(self, start, end, gt_start, gt_end):
        return (binary_logistic_loss(start, gt_start, eps=self.eps)
                + binary_logistic_loss(end, gt_end, eps=self.eps))

    def pem_reg_loss(self, score, gt_iou_map):
        high = ops.cast(gt_iou_map > self.high_iou, ms.float32)
        medium = ops.cast((gt_iou_map <= self.high_iou) & (gt_iou_map > self.low_iou), ms.float32)
        low = ops.cast((gt_iou_map <= self.low_iou) & (gt_iou_map > 0.0), ms.float32) * self.bm_mask
        num_high = high.sum()
        keep_medium = num_high / ops.maximum(medium.sum(), 1.0)
        keep_low = num_high / ops.maximum(low.sum(), 1.0)
        draw_medium = self.uniform(gt_iou_map.shape)
        draw_low = self.uniform(gt_iou_map.shape)
        sampled_medium = medium * ops.cast(draw_medium > 1.0 - keep_medium, ms.float32)
        sampled_low = low * ops.cast(draw_low > 1.0 - keep_low, ms.float32)
        weights = high + sampled_medium + sampled_low
        squared = ops.square((score - gt_iou_map) * weights)
        return 0.5 * squared.sum() / ops.maximum(weights.sum(), 1.0)

    def pem_cls_loss(self, score, gt_iou_map):
        return binary_logistic_loss(score, gt_iou_map, self.positive_iou, self.bm_mask, self.eps)

    def construct(self, confidence_map, start, end, gt_iou_map, gt_start, gt_end):
        gt_iou_map = gt_iou_map * self.bm_mask
        tem = self.tem_loss(start, end, gt_start, gt_end)
        pem_reg = self.pem_reg_loss(confidence_map[:, 0], gt_iou_map)
        pem_cls = self.pem_cls_loss(confidence_map[:, 1], gt_iou_map)
        total = self.weights[0] * tem + self.weights[1] * pem_reg + self.weights[2] * pem_cls
        return total, tem, pem_reg, pem_cls


def _random_seeds():
    """Operator seeds derived from the global MindSpore seed (fixed pair when none is set)."""
    global_seed = ms.get_seed()
    if global_seed is None:
        return 0, 0
    return int(global_seed), int(global_seed) + 1


class BMNWithLoss(nn.Cell):
    """BMN + :class:`BMNLoss` as one cell over the training columns, for ``mindspore.Model``:
    ``construct(features, gt_iou_map, gt_start, gt_end) -> total loss``."""

    def __init__(self, net, loss: BMNLoss = None):
        super().__init__(auto_prefix=False)
        self.net = net
        # localizers without a bm_layout attribute have the (duration, start) map
        self.loss = loss if loss is not None else BMNLoss(net.tscale, getattr(net, "bm_layout", "duration_start"))

    def construct(self, features, gt_iou_map, gt_start, gt_end):
        confidence_map, start, end = self.net(features)
        return self.loss(confidence_map, start, end, gt_iou_map, gt_start, gt_end)[0]
