"""Evaluation metrics: classification accuracy (``classification``) and temporal action proposals
(``proposal_metrics``: AR@AN, AUC)."""
