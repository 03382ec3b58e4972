"""Temporal action proposals from boundary-matching maps: the map geometry of both public conventions
(:mod:`.bm_layout`) and candidates + Soft-NMS (:mod:`.bmn_proposals`); NumPy only."""
