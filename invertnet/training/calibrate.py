"""lambda_feat for another comparator or encoder: give the feature term the magnitude it had in the paper.

The paper set lambda_feat = 0.01 "for the AlexNet CONV5 comparator" and says the coefficient
"depended on the comparator being used" (section 3.2): 0.01 is tuned to the scale of
CaffeNet's pool5 with ImageNet weights. torchvision's AlexNet, a network with random weights
(``--comparator random-conv5``) or a file of other weights have pool5 features of other
sizes, and with 0.01 their feature term can be thousands of times heavier or lighter than
the paper's; a light one silently turns a ``full`` run into an ``adv+image`` one.

The scale is measured where it matters, on the training data: the mean of eq. 2,
1/2 |C(x_i) - C(x_j)|^2, over all pairs of ``count`` different training images, for the run's
comparator (D) and for the reference comparator, CaffeNet's conv5 (D_ref, needs its ImageNet
weights: ``--reference caffenet``). Then lambda_feat = 0.01 * D_ref / D, which gives the
feature term between two images the weight it has in the paper's setting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..data.datasets import Source, eval_batches
from ..encoders import Encoder
from ..errors import InvertnetError
from ..evaluation.metrics import pairwise_mean_distance
from .losses import DEFAULT_WEIGHTS, LossConfig, build_comparator

REFERENCE_ENCODER = "caffenet"
"""The encoder of the paper's comparator: CaffeNet with its ImageNet weights."""
REFERENCE_COMPARATOR = "conv5"
REFERENCE_LAMBDA_FEAT = DEFAULT_WEIGHTS["feat"]
"""0.01, the paper's lambda_feat for the AlexNet (CaffeNet) CONV5 comparator (section 3.2)."""
LIGHT_FEATURE_TERM = 1e-3
"""Below this fraction of the image term, a feature term between two different images steers nothing (see :func:`term_balance`)."""


@dataclass(frozen=True)
class Calibration:
    """The measured scales and the lambda_feat that matches the paper's."""

    comparator: str
    encoder: str
    reference: str
    images: int
    distance: float
    """Mean 1/2 |C(x_i) - C(x_j)|^2 over pairs of images, the run's comparator."""
    reference_distance: float
    """The same for CaffeNet's conv5 (the reference)."""
    lambda_feat: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def crops(source: Source, count: int, size: int) -> torch.Tensor:
    """The center crops of the first ``count`` images of ``source`` (the evaluation crops), (N, 3, size, size) in [0, 1]."""
    if count < 2:
        raise InvertnetError(f"calibration compares pairs of images: give at least 2, got {count}")
    if len(source) < count:
        raise InvertnetError(f"calibration asks for {count} images; the data has {len(source)}")
    return torch.cat([images for _, images in eval_batches(source, count, count, size)])


def _mean_half_squared_distance(rows: torch.Tensor) -> float:
    """Mean over all pairs i < j of 1/2 |r_i - r_j|^2: eq. 2 (or eq. 5) between two different samples."""
    return 0.5 * pairwise_mean_distance(rows.flatten(1).cpu(), rows.device, squared=True)  # read as numpy rows, summed on rows' device


@torch.no_grad()
def mean_pair_distance(comparator: torch.nn.Module, images: torch.Tensor, batch_size: int = 32) -> float:
    """Mean over all pairs i < j of 1/2 |C(x_i) - C(x_j)|^2, images in [0, 1] (eq. 2 between two different images)."""
    return _mean_half_squared_distance(torch.cat([comparator(chunk * 255.0).flatten(1) for chunk in images.split(batch_size)]))


def calibrate(
    source: Source, encoder: Encoder, comparator: str = REFERENCE_COMPARATOR, reference: Encoder | None = None, count: int = 64,
) -> Calibration:
    """lambda_feat for ``comparator`` of ``encoder`` from ``count`` training images of ``source``.

    ``reference``: the encoder whose conv5 sets the scale (CaffeNet with ImageNet weights for
    the paper's; another one only to compare two settings of one's own).
    """
    if comparator == "none":
        raise InvertnetError("--comparator none has no feature term to calibrate")
    if reference is None:
        raise InvertnetError("calibration needs the reference encoder (CaffeNet with ImageNet weights)")
    device = encoder.device
    distance = mean_pair_distance(build_comparator(comparator, encoder), crops(source, count, encoder.input_size).to(device))
    reference_distance = mean_pair_distance(
        build_comparator(REFERENCE_COMPARATOR, reference), crops(source, count, reference.input_size).to(reference.device)
    )
    if not distance > 0:
        raise InvertnetError(f"the {comparator} features of {encoder.identity} are the same for every image: no lambda_feat can weigh them")
    return Calibration(
        comparator, encoder.identity, reference.identity, count, distance, reference_distance, REFERENCE_LAMBDA_FEAT * reference_distance / distance
    )


def term_balance(comparator: torch.nn.Module, images: torch.Tensor, lambda_feat: float, lambda_img: float) -> tuple[float, float]:
    """(lambda_feat x eq. 2, lambda_img x eq. 5) between pairs of different images: what the two terms weigh before training."""
    return lambda_feat * mean_pair_distance(comparator, images), lambda_img * _mean_half_squared_distance(images * 255.0)


def feature_term_warning(
    comparator: torch.nn.Module, loss: LossConfig, images: torch.Tensor, identity: str, data: str, spec: str,
) -> str:
    """A warning when the feature term between two different sample images weighs next to nothing against the image term ("" if not).

    With a comparator whose features are far smaller than CaffeNet's (a random network with
    PyTorch's initialisation, say), lambda_feat = 0.01 makes a ``full`` run an ``adv+image``
    one in all but name; ``invertnet calibrate`` gives the lambda_feat that fits. ``identity``: the
    comparator's network's; ``data``, ``spec``: the run's data and encoder, for the advice.
    """
    if loss.lambda_img <= 0 or loss.image_loss != "l2" or len(images) < 2:
        return ""
    feature, image = term_balance(comparator, images, loss.lambda_feat, loss.lambda_img)
    if feature >= LIGHT_FEATURE_TERM * image:
        return ""
    return (
        f"between two different sample images the weighted feature term is {feature:.3g} and the image term {image:.3g}: "
        f"the feature term would steer nothing (the {loss.comparator} features of {identity} are far smaller "
        f"than CaffeNet's, for which lambda_feat {loss.lambda_feat:g} was set). "
        f"`invertnet calibrate --data {data} --encoder {spec} --comparator {loss.comparator}` "
        "measures the --lambda-feat that fits"
    )
