"""openI / ModelArts jobs: copy the inputs to a local cache, point the config at it, copy results back.

A cloud job gets its storage as URLs (``obs://bucket/dir`` or ``s3://bucket/dir``) and reads them
through ``moxing``, a package that exists only on the platform. With ``--openI True`` the entry
points call :func:`prepare_cloud_job`, which uses these config keys:

``data_url``
    input folder (dataset, annotation, pretrained weights); copied to ``<cache_dir>/data``. Required.
``train_url``
    training output; ``save_dir`` becomes ``<cache_dir>/output``, copied here at the end. Required
    for ``role="train"``.
``ckpt_url``
    checkpoint file or folder to evaluate (or fine-tune from); copied to ``<cache_dir>/ckpt``. Optional.
``result_url``
    evaluation output; ``save_dir`` becomes ``<cache_dir>/result``, copied here at the end. Required
    for ``role="eval"``.
``cache_dir``
    local cache of the job (default ``/cache``, the platform's local disk).

Path keys of the config are rewritten to the cache: data keys (``video_path``, ``annotation_path``,
``feature_path``, ...) and checkpoint keys (``checkpoint_path``, ``rgb_path``, ``flow_path``). A value
that starts with ``data_url`` / ``ckpt_url`` is moved to the matching cache folder; a relative value
is read relative to the data folder (checkpoint keys: relative to the checkpoint folder when
``ckpt_url`` is given); an empty ``checkpoint_path`` becomes the copied ``ckpt_url``; absolute local
paths stay. A remote path outside these URLs is an error.

Local paths work without ``moxing`` (plain copies), so a job can be rehearsed on any machine; a
remote URL without ``moxing`` is an error. In a multi-device job (``distributed`` and ``RANK_SIZE`` >
1) only the first process of each server copies; the others wait for its marker file in
``<cache_dir>/.sync`` (raising after ``timeout`` seconds, or at once if the copy failed). Markers are
removed when the job finishes; delete ``<cache_dir>/.sync`` by hand after a crashed local rehearsal.

Usage in an entry point::

    cfg, finish = prepare_cloud_job(cfg, role="train")   # no-op unless cfg.openI
    ...  # train, writing into cfg.save_dir
    finish()                                            # copies cfg.save_dir to train_url
"""
import json
import os
import shutil
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from src.utils.io import write_json_atomically
from src.utils.rank_table import RankTableError, load_rank_table

__all__ = ["CloudError", "DATA_KEYS", "CHECKPOINT_KEYS", "is_remote", "copy_path", "local_rank",
           "run_once_per_server", "sync_inputs", "sync_outputs", "prepare_cloud_job"]

DATA_KEYS = ("video_path", "video_path_joint_flow", "annotation_path", "annotation_path_joint_flow",
             "val_annotation_path", "feature_path", "video_info_path")
CHECKPOINT_KEYS = ("checkpoint_path", "rgb_path", "flow_path")
OUTPUT_FOLDERS = {"train": ("train_url", "output"), "eval": ("result_url", "result")}
INPUT_FOLDERS = (("data_url", "data"), ("ckpt_url", "ckpt"))
MARKER_FOLDER = ".sync"
DEFAULT_TIMEOUT = 3600.0


class CloudError(RuntimeError):
    """A cloud job that cannot get its inputs or deliver its outputs."""


def is_remote(path: str) -> bool:
    """True for object-storage URLs such as ``obs://bucket/x`` or ``s3://bucket/x``."""
    return "://" in str(path)


def _moxing():
    try:
        import moxing  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return moxing


def copy_path(src: str, dst_folder: str) -> str:
    """Copy a folder's content into ``dst_folder``, or a file to ``dst_folder/<name>``; return the copy."""
    mox = _moxing()
    start = time.time()
    if mox is not None:
        if mox.file.is_directory(src):
            mox.file.copy_parallel(src, dst_folder)
            local = dst_folder
        else:
            local = os.path.join(dst_folder, os.path.basename(src.rstrip("/")))
            mox.file.copy(src, local)
    elif is_remote(src) or is_remote(dst_folder):
        raise CloudError(f"copying {src} -> {dst_folder} needs the `moxing` package, which only exists on "
                         f"openI / ModelArts; run the job there or give local paths")
    elif os.path.isdir(src):
        shutil.copytree(src, dst_folder, dirs_exist_ok=True)
        local = dst_folder
    elif os.path.isfile(src):
        os.makedirs(dst_folder, exist_ok=True)
        local = shutil.copy2(src, os.path.join(dst_folder, os.path.basename(src)))
    else:
        raise CloudError(f"{src} does not exist; check the job's URL arguments")
    print(f"[cloud] copied {src} -> {local} in {time.time() - start:.1f} s", flush=True)
    return local


def local_rank(env: Optional[Mapping[str, str]] = None) -> int:
    """Index of this process among the processes of its server.

    Taken from ``LOCAL_RANK``; under msrun (``MS_ROLE`` set) from ``DEVICE_ID``; else the position of
    ``RANK_ID`` in its server's entry of ``RANK_TABLE_FILE``; else ``RANK_ID`` modulo the devices per
    server (``DEVICE_NUM_PER_SERVER``, default ``min(RANK_SIZE, 8)``).
    """
    env = os.environ if env is None else env
    if "LOCAL_RANK" in env:
        return int(env["LOCAL_RANK"])
    if env.get("MS_ROLE") and "DEVICE_ID" in env:
        return int(env["DEVICE_ID"])
    rank = int(env.get("RANK_ID", "0"))
    table_path = env.get("RANK_TABLE_FILE", "")
    if table_path:
        try:
            table = load_rank_table(table_path)
        except (RankTableError, OSError):
            table = None  # a platform table of another layout: fall back to the modulo rule
        for server in (table or {}).get("server_list", []):
            ranks = sorted(int(device["rank_id"]) for device in server["device"])
            if rank in ranks:
                return ranks.index(rank)
    per_server = int(env.get("DEVICE_NUM_PER_SERVER", "0")) or min(int(env.get("RANK_SIZE", "1")), 8)
    return rank % per_server


def run_once_per_server(action: Callable[[], Any], marker: str, is_copier: bool,
                        timeout: float = DEFAULT_TIMEOUT, poll: float = 0.5) -> Any:
    """Run ``action`` in the copier process and share its (JSON) result through ``marker``.

    The copier writes ``marker`` when done, or ``marker + ".failed"`` with the error; the other
    processes wait for either and return the copier's result.
    """
    failed = marker + ".failed"
    if is_copier:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        for stale in (marker, failed):
            if os.path.exists(stale):
                os.remove(stale)
        try:
            result = action()
        except Exception as err:
            write_json_atomically(failed, {"error": f"{type(err).__name__}: {err}"})
            raise
        write_json_atomically(marker, {"result": result})
        return result
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(marker):
            with open(marker, "r", encoding="utf-8") as handle:
                return json.load(handle)["result"]
        if os.path.exists(failed):
            with open(failed, "r", encoding="utf-8") as handle:
                reason = json.load(handle)["error"]
            raise CloudError(f"the copying process of this server failed ({reason}); see its log")
        if time.monotonic() > deadline:
            raise CloudError(f"waited {timeout:.0f} s for {marker}, written by the first process of this "
                             f"server when its copy is done; check that process's log (or raise the timeout)")
        time.sleep(poll)


def _is_copier(cfg: Mapping) -> Tuple[bool, bool]:
    """(coordinated, is_copier): whether several processes share the cache, and whether this one copies."""
    coordinated = bool(cfg.get("distributed")) and int(os.environ.get("RANK_SIZE", "1")) > 1
    return coordinated, (not coordinated) or local_rank() == 0


def _markers(cfg: Mapping) -> str:
    return os.path.join(cfg["cache_dir"], MARKER_FOLDER)


def sync_inputs(cfg: Mapping, timeout: float = DEFAULT_TIMEOUT) -> Dict[str, str]:
    """Copy ``data_url`` / ``ckpt_url`` (those given) into the cache; return ``{url key: local path}``."""
    coordinated, copier = _is_copier(cfg)
    local_paths = {}
    for url_key, folder in INPUT_FOLDERS:
        url = cfg.get(url_key, "")
        if not url:
            continue
        target = os.path.join(cfg["cache_dir"], folder)
        if coordinated:
            marker = os.path.join(_markers(cfg), f"{url_key}.done")
            local_paths[url_key] = run_once_per_server(lambda u=url, t=target: copy_path(u, t), marker,
                                                       copier, timeout)
        else:
            local_paths[url_key] = copy_path(url, target)
    return local_paths


def sync_outputs(cfg: Mapping, role: str) -> Optional[str]:
    """Copy ``save_dir`` to the role's output URL (first process of each server only); return the URL."""
    url_key, _ = OUTPUT_FOLDERS[role]
    _, copier = _is_copier(cfg)
    if not copier:
        return None
    if os.path.isdir(cfg["save_dir"]):
        copy_path(cfg["save_dir"], cfg[url_key])
    else:
        print(f"[cloud] nothing to copy: {cfg['save_dir']} was not created", flush=True)
    shutil.rmtree(_markers(cfg), ignore_errors=True)
    return cfg[url_key]


def _under(value: str, url: str) -> Optional[str]:
    """The part of ``value`` below ``url`` ('' for the URL itself), or None when outside it."""
    root = url.rstrip("/")
    if value.rstrip("/") == root:
        return ""
    if value.startswith(root + "/"):
        return value[len(root) + 1:]
    return None


def _rewrite_paths(cfg: Dict[str, Any], urls: Mapping[str, str], local_paths: Mapping[str, str]) -> None:
    def folder_of(path: str) -> str:
        return path if os.path.isdir(path) else os.path.dirname(path)

    data_root = folder_of(local_paths["data_url"])
    ckpt_root = folder_of(local_paths["ckpt_url"]) if "ckpt_url" in local_paths else data_root
    if "ckpt_url" in local_paths and not cfg.get("checkpoint_path"):
        cfg["checkpoint_path"] = local_paths["ckpt_url"]
    for key in DATA_KEYS + CHECKPOINT_KEYS:
        value = str(cfg.get(key) or "")
        if not value:
            continue
        for url_key, url in urls.items():
            below = _under(value, url)
            if below is not None:
                base = local_paths[url_key]
                cfg[key] = os.path.join(base, below) if below else base
                break
        else:
            if is_remote(value):
                raise CloudError(f"{key}={value} is outside data_url ({urls['data_url']})"
                                 f"{' and ckpt_url' if 'ckpt_url' in urls else ''}; put it there or give it "
                                 f"relative to data_url")
            if not os.path.isabs(value):
                cfg[key] = os.path.normpath(os.path.join(ckpt_root if key in CHECKPOINT_KEYS else data_root, value))


def prepare_cloud_job(cfg: Mapping, role: str = "train",
                      timeout: float = DEFAULT_TIMEOUT) -> Tuple[Any, Callable[[], Optional[str]]]:
    """Copy a cloud job's inputs, rewrite ``cfg``'s paths, and return ``(new cfg, finish)``.

    ``finish()`` copies ``save_dir`` to ``train_url`` (train) or ``result_url`` (eval). Without
    ``cfg.openI`` the config is returned unchanged (a copy) and ``finish`` does nothing.
    """
    if role not in OUTPUT_FOLDERS:
        raise ValueError(f"role must be one of {sorted(OUTPUT_FOLDERS)}, got {role!r}")
    new_cfg = cfg.copy()
    if not cfg.get("openI"):
        return new_cfg, lambda: None
    output_key, output_folder = OUTPUT_FOLDERS[role]
    for required in ("data_url", output_key):
        if not cfg.get(required):
            raise CloudError(f"an openI {role} job needs --{required} (see src/utils/cloud.py)")
    urls = {key: cfg[key] for key, _ in INPUT_FOLDERS if cfg.get(key)}
    local_paths = sync_inputs(cfg, timeout)
    _rewrite_paths(new_cfg, urls, local_paths)
    new_cfg["save_dir"] = os.path.join(cfg["cache_dir"], output_folder)
    os.makedirs(new_cfg["save_dir"], exist_ok=True)
    return new_cfg, lambda: sync_outputs(new_cfg, role)
