"""Table 2's normalized Euclidean error, computed so that 50,000 images fit.

error = mean_i ||a_i - b_i||_2 / N,   N = mean over all pairs i != j of ||x_i - x_j||_2,

where x are the test inputs (images, or their features at the inverted layer), a the
reconstructions (or their features) and b the inputs. 100% means as good as answering with
a random other test sample. N needs all n(n-1)/2 pairs: the rows live in a disk-backed
array (:class:`RowStore`) and the distances are computed block by block, so memory stays
at a few blocks whatever n is.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

BLOCK_BYTES = 1 << 27  # float64 bytes per block of rows: 128 MiB


class RowStore:
    """n rows of d values, appended in order, kept in a temporary memory-mapped file."""

    def __init__(self, rows: int, width: int, dtype: np.dtype | type = np.float32, directory: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="invertnet-rows-", dir=directory)
        self.array = np.lib.format.open_memmap(Path(self._dir.name) / "rows.npy", mode="w+", dtype=dtype, shape=(rows, width))
        self.count = 0

    def append(self, rows: torch.Tensor) -> None:
        """Add rows (any shape with a leading batch dimension; flattened)."""
        flat = rows.detach().reshape(rows.shape[0], -1).cpu().numpy()
        self.array[self.count : self.count + flat.shape[0]] = flat
        self.count += flat.shape[0]

    def close(self) -> None:
        del self.array
        self._dir.cleanup()


def pairwise_mean_distance(rows: np.ndarray | torch.Tensor, device: str | torch.device = "cpu", squared: bool = False) -> float:
    """Mean Euclidean distance (``squared``: squared distance) over all pairs of different rows, in float64, block by block."""
    n = rows.shape[0]
    if n < 2:
        raise ValueError("the normalized error needs at least two test samples")
    width = int(np.prod(rows.shape[1:]))
    block = max(1, BLOCK_BYTES // (8 * width))
    as_tensor = lambda start, stop: torch.as_tensor(np.asarray(rows[start:stop])).reshape(stop - start, -1).to(device, torch.float64)  # noqa: E731
    total = torch.zeros((), dtype=torch.float64, device=device)
    for i in range(0, n, block):
        a = as_tensor(i, min(i + block, n))
        a_sq = a.pow(2).sum(1, keepdim=True)
        for j in range(i, n, block):
            b = a if j == i else as_tensor(j, min(j + block, n))
            squared_distances = (a_sq + b.pow(2).sum(1).unsqueeze(0) - 2.0 * a @ b.T).clamp_min_(0.0)
            distances = squared_distances if squared else squared_distances.sqrt_()
            total += distances.triu(diagonal=1).sum() if j == i else distances.sum()
    return float(total) / (n * (n - 1) / 2)


def euclidean_per_sample(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a_i - b_i||_2 for each sample, in float64."""
    return (a.double() - b.double()).flatten(1).norm(dim=1)


def normalized_error(distances: torch.Tensor | np.ndarray, normalizer: float) -> float:
    """Mean per-sample distance over the all-pairs normalizer N (a fraction; x100 for Table 2's %)."""
    return float(np.mean(np.asarray(distances, dtype=np.float64))) / normalizer
