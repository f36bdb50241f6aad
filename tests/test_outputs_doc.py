"""docs/outputs.md names every key the machine-readable outputs hold (issue 34, item 3)."""

import dataclasses
import json
import re
from pathlib import Path

from invertnet.evaluation.protocol import EvalResult
from invertnet.weights.registry import KnownWeights

DOC = (Path(__file__).resolve().parent.parent / "docs" / "outputs.md").read_text()
NAMED = set(re.findall(r"`([a-z0-9_]+)`", DOC))


def test_every_eval_key_is_documented():
    fields = {f.name: None for f in dataclasses.fields(EvalResult) if f.default is dataclasses.MISSING}
    result = EvalResult(**{**fields, "method": "m", "layer": "conv5", "n": 2, "image_error": 0.5, "feature_error": 0.5, "image_normalizer": 1.0,
                           "feature_normalizer": 1.0, "psnr": 1.0, "ssim": 0.5, "ms_ssim": 0.5, "checkpoint": "c", "encoder": "e", "data": "d"})
    assert set(result.summary()) - NAMED == set()


def test_every_weights_list_key_is_documented():
    assert {f.name for f in dataclasses.fields(KnownWeights)} - NAMED == set()


def test_every_metrics_key_is_documented(trained_run):
    keys = {key for line in (trained_run / "metrics.jsonl").read_text().splitlines() for key in json.loads(line)}
    assert keys - NAMED == set()


def test_every_tree_and_scores_key_is_documented(tmp_path):
    """The keys ``invert --features ROOT --json`` and ``eval --reconstructions --json`` write (their writers' records, as they build them)."""
    import numpy as np

    from invertnet.decoded.scores import GroupScores

    row = GroupScores("S1", "VC", ["a", "b"], np.ones(2), np.ones(2), 0.5, {"relu7": (np.ones(2), np.ones(2))}).row()
    keys = set(row) | set(row["features"]["relu7"]) | set(row["per_image"][0])
    import inspect

    from invertnet.cli import scores, tree

    written = set(re.findall(r'"([a-z_]+)":', inspect.getsource(tree._write_json) + inspect.getsource(scores.eval_reconstructions)))
    assert (keys | written) - NAMED == set()
