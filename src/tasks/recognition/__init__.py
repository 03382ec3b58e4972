"""Action recognition: clip models (``NCTHW``: I3D, 3D-ResNet) and segment models (``NSCHW``: TSN,
PP-TSN) trained with softmax cross-entropy and scored by top-1 accuracy over all test views.

Exported input: ``(N, C, T, H, W)`` with C = 3 (rgb) or 2 (flow) and T = test_sample_duration, or
``(N, S, C, H, W)`` with S = test_num_segments (num_segments when 0) and C = 3 or 2 * new_length;
to score V crops of a video, put them on the batch axis and average the N logits.
"""
import mindspore.nn as nn

from src.data.dataset import create_video_dataset, uses_soft_targets
from src.data.pipelines import segments_for
from src.infer.bins import default_preprocess_path
from src.models.registry import in_channels_for, model_layout
from src.utils.runtime import RunContext

from ..base import Task, register_task
from .evaluation import evaluate_nets, evaluate_recognizer, validation_source
from .offline import score_joint_results, score_stream_results, write_recognizer_batches

__all__ = ["RecognitionTask"]


@register_task
class RecognitionTask(Task):
    name = "recognition"
    best_metric = "top1"
    summary_keys = ("top1", "top5", "mean_class_accuracy")

    def checkpoint_prefix(self, cfg) -> str:
        return f"{cfg.model}_{cfg.dataset}_{cfg.mode}"

    def create_dataset(self, cfg, split, rank_id=0, group_size=1):
        return create_video_dataset(cfg, split, rank_id, group_size)

    def loss_network(self, cfg, net):
        loss = nn.SoftmaxCrossEntropyWithLogits(sparse=not uses_soft_targets(cfg), reduction="mean")
        return nn.WithLossCell(net, loss)

    def epoch_evaluator(self, cfg, net, out_dir):
        source = validation_source(cfg, out_dir)  # read now: a bad split stops the run before training
        return lambda: evaluate_nets(cfg, {cfg.mode: net}, out_dir, source=source)

    def evaluate_checkpoints(self, cfg, out_dir, run=RunContext()):
        return evaluate_recognizer(cfg, out_dir, run)

    def input_shape(self, cfg, batch_size):
        channels = in_channels_for(cfg)
        if model_layout(cfg.model) == "NSCHW":
            return (batch_size, segments_for(cfg, "val"), channels, cfg.spatial_size, cfg.spatial_size)
        return (batch_size, channels, cfg.test_sample_duration, cfg.spatial_size, cfg.spatial_size)

    def write_offline_batches(self, cfg, out_dir):
        out_dir = out_dir or default_preprocess_path(cfg, cfg.test_mode or cfg.mode)
        return write_recognizer_batches(cfg, out_dir, self.name, self.input_shape)

    def score_offline_results(self, cfg, meta):
        if cfg.rgb_result_path or cfg.flow_result_path:
            if not (cfg.rgb_result_path and cfg.flow_result_path):
                raise ValueError("joint postprocessing needs both --rgb_result_path and --flow_result_path")
            return score_joint_results(cfg)
        return score_stream_results(cfg, meta)
