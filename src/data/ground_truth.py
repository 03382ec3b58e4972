"""Ground truth and proposals of temporal action proposal evaluation, as ``{video id: ...}``.

The ground truth is either the official ActivityNet file ``{"database": {id: {"subset",
"annotations": [...]}}}`` or the BSN/BMN ``anet_anno_action.json`` (``{v_<id>: {"duration_second",
"annotations": [...]}}``), whose subsets come from ``video_info_new.csv`` or from a ``subset`` field
per video as in PaddleVideo's labels. Proposals are the official results file ``{"version",
"results": {id: [{"segment", "score"}, ...]}, "external_data"}``.
"""
import json
from typing import Dict, List, Mapping

from src.data.annotations import SPLIT_SUBSETS
from src.data.bmn_data import read_annotation_database

__all__ = ["load_official_ground_truth", "load_ground_truth", "load_proposals", "strip_video_prefix"]


def load_official_ground_truth(path: str, subset: str = "validation") -> Dict[str, List[List[float]]]:
    """``{id: [[s, e], ...]}`` of ``subset`` from an official ActivityNet ground-truth JSON."""
    with open(path, "r", encoding="utf-8") as handle:
        database = json.load(handle).get("database")
    if not isinstance(database, dict):
        raise ValueError(f"{path} has no 'database' mapping; expected the official ActivityNet ground truth")
    return {video: [list(map(float, a["segment"])) for a in entry.get("annotations", [])]
            for video, entry in database.items() if entry.get("subset") == subset}


def _bsn_ground_truth(path: str, database: dict, subset: str, video_info: str) -> Dict[str, List[List[float]]]:
    subsets = next((names for names in SPLIT_SUBSETS.values() if subset in names), (subset,))
    if not video_info and not any(isinstance(entry, dict) and "subset" in entry for entry in database.values()):
        raise ValueError(f"{path} is in the BSN/BMN layout without a 'subset' per video; pass --video_info "
                         f"video_info_new.csv to say which videos are {subset}")
    entries = read_annotation_database(path, video_info)
    return {video: [list(map(float, a["segment"])) for a in entry.get("annotations", [])]
            for video, entry in entries.items() if entry["subset"] in subsets}


def load_ground_truth(path: str, subset: str = "validation", video_info: str = "") -> Dict[str, List[List[float]]]:
    """``{id: [[s, e], ...]}`` of ``subset`` from the official ground truth or a BSN/BMN annotation
    file (see the module docstring); ids as the file writes them."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON (line {err.lineno}): {err.msg}") from err
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        return load_official_ground_truth(path, subset)
    if isinstance(data, dict) and data and all(isinstance(entry, dict) and "annotations" in entry
                                               for entry in data.values()):
        return _bsn_ground_truth(path, data, subset, video_info)
    raise ValueError(f"{path} is neither the official ActivityNet ground truth ({{'database': ...}}) nor a "
                     f"BSN/BMN annotation file ({{video: {{'duration_second', 'annotations'}}}})")


def strip_video_prefix(ids: Mapping[str, object], path: str, report: List[str]) -> Dict[str, object]:
    """``ids`` keyed without a leading ``v_``; a count of the stripped ids naming ``path`` goes to
    ``report``."""
    stripped = {(video[2:] if video.startswith("v_") else video): value for video, value in ids.items()}
    count = sum(video.startswith("v_") for video in ids)
    if len(stripped) != len(ids):
        raise ValueError(f"{path} holds the same video with and without the v_ prefix; keep one of them")
    if count:
        report.append(f"{count} video id(s) of {path} carry the v_ prefix; matched without it")
    return stripped


def load_proposals(path: str) -> Dict[str, List[dict]]:
    """The ``results`` of a proposals file ``{"version", "results", "external_data"}``."""
    with open(path, "r", encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(f"{path} is not a proposals file: expected {{'version', 'results': {{id: [...]}}, "
                         f"'external_data'}}")
    return data["results"]
