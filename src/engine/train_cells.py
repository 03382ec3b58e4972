"""Training steps that clip the gradients to a global norm before the update.

MindSpore's training cells apply the gradients as they come; the TSN paper's solvers clip them to a
global L2 norm of 40 (RGB) and 20 (flow), as do mmaction2's TSN recipes (40) and tsn-pytorch
(``--gd``). Both cells clip after the data-parallel reduction (every rank clips the same averaged
gradients) and, with loss scaling, after unscaling, so ``max_norm`` is in the units of the true
gradients.
"""
import mindspore.nn as nn
import mindspore.ops as ops
from mindspore import dtype as mstype

__all__ = ["ClippedTrainStep", "ClippedLossScaleTrainStep"]

_unscale = ops.MultitypeFuncGraph("unscale")


@_unscale.register("Tensor", "Tensor")
def _unscale_tensor(scale, grad):
    return grad * ops.cast(ops.reciprocal(scale), ops.dtype(grad))


class ClippedTrainStep(nn.TrainOneStepCell):
    """:class:`mindspore.nn.TrainOneStepCell` with the gradients clipped to ``max_norm`` (global L2)."""

    def __init__(self, network, optimizer, max_norm: float):
        super().__init__(network, optimizer)
        self.max_norm = float(max_norm)

    def construct(self, *inputs):
        loss = self.network(*inputs)
        sens = ops.fill(loss.dtype, loss.shape, self.sens)
        grads = self.grad(self.network, self.weights)(*inputs, sens)
        grads = ops.clip_by_global_norm(self.grad_reducer(grads), self.max_norm)
        return ops.depend(loss, self.optimizer(grads))


class ClippedLossScaleTrainStep(nn.TrainOneStepWithLossScaleCell):
    """:class:`mindspore.nn.TrainOneStepWithLossScaleCell` (mixed precision on Ascend / GPU) with the
    unscaled gradients clipped to ``max_norm``; a step whose gradients overflow is skipped, as there."""

    def __init__(self, network, optimizer, scale_sense, max_norm: float):
        super().__init__(network, optimizer, scale_sense)
        self.max_norm = float(max_norm)

    def construct(self, *inputs):
        loss = self.network(*inputs)
        scaling_sens = self.scale_sense
        status = ops.zeros((8,), mstype.int32)
        scaling_sens_filled = ops.ones_like(loss) * ops.cast(scaling_sens, ops.dtype(loss))
        grads = self.grad(self.network, self.weights)(*inputs, scaling_sens_filled)
        grads = self.grad_reducer(self.hyper_map(ops.partial(_unscale, scaling_sens), grads))
        overflow_status = self.get_overflow_status(status, grads)
        if not self.process_loss_scale(overflow_status):
            loss = ops.depend(loss, self.optimizer(ops.clip_by_global_norm(grads, self.max_norm)))
        return loss, overflow_status, scaling_sens
