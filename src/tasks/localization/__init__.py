"""Temporal action localization by boundary matching (BMN): feature sequences ``(B, feat_dim,
tscale)`` in, ``(confidence_map, start, end)`` out; trained with the BMN loss, scored by the AUC of
the AR-AN curve of Soft-NMS proposals. Exported input: ``(N, feat_dim, tscale)``."""
from src.data.bmn_data import create_bmn_dataset
from src.infer.backends import inference_network
from src.infer.bins import default_preprocess_path
from src.losses.bmn_loss import BMNLoss, BMNWithLoss
from src.metrics.proposal_metrics import SUMMARY_KEYS
from src.utils.runtime import RunContext

from ..base import Task, register_task
from .evaluation import evaluate_localizer
from .offline import score_localizer_results, write_localizer_batches

__all__ = ["LocalizationTask"]


@register_task
class LocalizationTask(Task):
    name = "localization"
    best_metric = "AUC"
    summary_keys = SUMMARY_KEYS

    def checkpoint_prefix(self, cfg) -> str:
        return f"{cfg.model}_{cfg.dataset}"

    def create_dataset(self, cfg, split, rank_id=0, group_size=1):
        return create_bmn_dataset(cfg, split, rank_id, group_size)

    def loss_network(self, cfg, net):
        return BMNWithLoss(net, BMNLoss(net.tscale, cfg.bm_layout, cfg.bmn_loss_eps))

    def epoch_evaluator(self, cfg, net, out_dir):
        dataset = create_bmn_dataset(cfg, "val")  # read now: a bad split stops the run before training
        return lambda: evaluate_localizer(cfg, net, dataset, out_dir)

    def evaluate_checkpoints(self, cfg, out_dir, run=RunContext()):
        if not (cfg.checkpoint_path or cfg.onnx_path):
            raise ValueError("set --checkpoint_path to the checkpoint to evaluate (or --onnx_path to an exported file)")
        return evaluate_localizer(cfg, inference_network(cfg, cfg.checkpoint_path), cfg.eval_split, out_dir, run)

    def input_shape(self, cfg, batch_size):
        return (batch_size, cfg.feat_dim, cfg.tscale)

    def write_offline_batches(self, cfg, out_dir):
        return write_localizer_batches(cfg, out_dir or default_preprocess_path(cfg, cfg.model), self.name,
                                    self.input_shape)

    def score_offline_results(self, cfg, meta):
        return score_localizer_results(cfg, meta)
