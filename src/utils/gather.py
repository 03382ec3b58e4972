"""Results of several ranks brought together over ``mindspore.communication`` (after ``init()``),
for evaluation split across ranks.

Every rank calls the same function with its own part and every rank gets all parts, in rank order
(AllGather: the collective that MindSpore's CPU communication under msrun, NCCL and HCCL all
provide, across hosts as well). Parts are carried as int32 words, the integer type AllGather takes
on all three; the bytes are padded to the longest part and sent in chunks of at most
:data:`CHUNK_WORDS`. With one rank nothing is communicated.
"""
import io
from typing import Dict, List

import mindspore as ms
import mindspore.ops as ops
import numpy as np

__all__ = ["CHUNK_WORDS", "all_gather_bytes", "all_gather_arrays", "unique_rows"]

CHUNK_WORDS = 1 << 24  # 64 MB per collective


def all_gather_bytes(payload: bytes, group_size: int) -> List[bytes]:
    """Every rank's ``payload``, in rank order."""
    if group_size == 1:
        return [payload]
    gather = ops.AllGather()
    sizes = gather(ms.Tensor(np.array([len(payload)], np.int32))).asnumpy()
    words = max(1, -(-int(sizes.max()) // 4))
    padded = np.zeros(4 * words, np.uint8)
    padded[:len(payload)] = np.frombuffer(payload, np.uint8)
    padded = padded.view(np.int32)
    chunks = [gather(ms.Tensor(padded[first:first + CHUNK_WORDS])).asnumpy().reshape(group_size, -1)
              for first in range(0, words, CHUNK_WORDS)]
    parts = np.concatenate(chunks, axis=1).view(np.uint8)
    return [parts[rank, :size].tobytes() for rank, size in enumerate(sizes)]


def all_gather_arrays(arrays: Dict[str, np.ndarray], group_size: int) -> Dict[str, np.ndarray]:
    """Each array of ``arrays`` concatenated along its first axis over the ranks, in rank order."""
    if group_size == 1:
        return arrays
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    parts = [np.load(io.BytesIO(part), allow_pickle=False) for part in all_gather_bytes(buffer.getvalue(), group_size)]
    return {key: np.concatenate([part[key] for part in parts]) for key in arrays}


def unique_rows(arrays: Dict[str, np.ndarray], key: str) -> Dict[str, np.ndarray]:
    """The rows of ``arrays`` in the order of ``arrays[key]``, one per value of it (a sampler sharded
    over ranks repeats items to give every rank as many)."""
    _, first = np.unique(arrays[key], return_index=True)
    return {name: values[first] for name, values in arrays.items()}
