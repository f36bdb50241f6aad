import itertools

import numpy as np
import pytest
import torch

from invertnet.evaluation import metrics
from invertnet.evaluation.metrics import RowStore, euclidean_per_sample, normalized_error, pairwise_mean_distance


def _brute_force(rows: np.ndarray) -> float:
    pairs = [np.linalg.norm(rows[i].astype(np.float64) - rows[j]) for i, j in itertools.permutations(range(len(rows)), 2)]
    return float(np.mean(pairs))


@pytest.mark.parametrize("block_bytes", [1 << 27, 8 * 12 * 3])  # one block; blocks of 3 rows
def test_pairwise_mean_matches_brute_force(monkeypatch, block_bytes):
    monkeypatch.setattr(metrics, "BLOCK_BYTES", block_bytes)
    rows = np.random.default_rng(0).integers(0, 256, size=(10, 12)).astype(np.uint8)
    assert pairwise_mean_distance(rows) == pytest.approx(_brute_force(rows), rel=1e-12)


def test_pairwise_mean_hand_example():
    rows = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert pairwise_mean_distance(rows) == pytest.approx((5 + 0 + 5) / 3)  # pairs: 5, 0, 5
    with pytest.raises(ValueError):
        pairwise_mean_distance(rows[:1])


def test_normalized_error():
    a, b = torch.tensor([[3.0, 4.0], [0.0, 1.0]]), torch.zeros(2, 2)
    distances = euclidean_per_sample(a, b)
    assert distances.tolist() == [5.0, 1.0]
    assert normalized_error(distances, normalizer=6.0) == pytest.approx(0.5)


def test_row_store_is_disk_backed_and_ordered(tmp_path):
    store = RowStore(5, 4, np.uint8, directory=str(tmp_path))
    store.append(torch.arange(8, dtype=torch.uint8).view(2, 2, 2))
    store.append(torch.arange(12, dtype=torch.uint8).view(3, 4))
    assert isinstance(store.array, np.memmap)
    assert store.array[1].tolist() == [4, 5, 6, 7] and store.array[4].tolist() == [8, 9, 10, 11]
    store.close()
    assert not any(tmp_path.iterdir())
