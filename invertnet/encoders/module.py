"""Any ``torch.nn.Module`` as an encoder: a lab's own network, trained and evaluated with the same code.

    from invertnet.encoders import ModuleEncoder
    encoder = ModuleEncoder(my_net, ["block3", "head"], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    Trainer(TrainConfig(layer="block3", data="/data/imagenet", out="runs/mine"), encoder=encoder).run()

Layers are the names of the module's submodules (``dict(my_net.named_modules())``); a layer's
features are that submodule's output, read by a forward hook, so no tracing is needed and any
module works. The forward pass stops once the deepest layer asked for has been computed.
Preprocessing is a mean and std (RGB, images in [0, 1]) or any callable from [0, 1] RGB images to
the module's input. The identity recorded in checkpoints names the module's class and the
SHA-256 of its weights, so a checkpoint refuses a module whose weights changed; such an encoder
is passed as an object wherever a spec string goes (it cannot be rebuilt from its identity).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..errors import InvertnetError
from .alexnet import IMAGENET_MEAN, IMAGENET_STD
from .base import Encoder


class _Done(Exception):
    """Raised by the last hook needed, to stop the forward pass early."""


class ModuleEncoder(Encoder):
    """``module`` frozen in eval mode, returning the outputs of the submodules named in ``layers``."""

    family = "module"

    def __init__(
        self, module: nn.Module, layers: Iterable[str], *, input_size: int = 224, mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD, preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        comparator_layer: str | None = None, generator_mean: tuple[float, float, float] | None = None, identity: str | None = None,
        logits_layer: str | None = None,
    ) -> None:
        """``layers``: submodule names, in network order; ``preprocess`` replaces the mean/std normalisation;
        ``comparator_layer``: the default comparator (the middle one of ``layers`` that gives a map, if not given);
        ``generator_mean``: what a generator adds to its output, 0-255 RGB (``255 * mean`` if not given);
        ``logits_layer``: its class scores, if it has any (``eval`` reports top-1 and top-5 agreement on them)."""
        super().__init__()
        self.net = module
        self.layers = tuple(layers)
        submodules = dict(module.named_modules())
        unknown = [layer for layer in self.layers if layer not in submodules or layer == ""]
        if not self.layers or unknown:
            raise InvertnetError(f"the module has no submodule {', '.join(map(repr, unknown or ['(none given)']))}: "
                                 f"name some of {', '.join(name for name in submodules if name)}")
        self.input_size = input_size
        self.preprocess = preprocess
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.generator_mean = tuple(255.0 * value for value in mean) if generator_mean is None else tuple(generator_mean)
        self.requires_grad_(False)
        self.eval()
        self.identity = identity or f"module:{type(module).__name__}:{weights_hash(module)[:16]}"
        with torch.no_grad():
            found = self(torch.zeros(1, 3, input_size, input_size, device=self.device), self.layers)
        self.shapes = {layer: tuple(found[layer].shape[1:]) for layer in self.layers}
        spatial = [layer for layer in self.layers if len(self.shapes[layer]) == 3]
        self.logits_layer = self.check_layer(logits_layer) if logits_layer else None
        self.comparator_layer = self.check_layer(comparator_layer) if comparator_layer else (spatial[len(spatial) // 2] if spatial else self.layers[-1])

    def feature_shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self.shapes)

    def forward(self, images: torch.Tensor, layers: str | tuple[str, ...] = "") -> torch.Tensor | dict[str, torch.Tensor]:
        """Features of ``images`` (N, 3, S, S, RGB in [0, 1]): a tensor for one layer name, a dict for a tuple."""
        wanted = (layers or self.layers[-1],) if isinstance(layers, str) else tuple(layers)
        for layer in wanted:
            if layer not in self.layers:
                self.check_layer(layer)
        self.check_images(images)
        x = self.preprocess(images) if self.preprocess is not None else (images - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        submodules = dict(self.net.named_modules())

        def keep(name: str) -> Callable[..., None]:
            def hook(_: nn.Module, __: object, output: object) -> None:
                if not isinstance(output, torch.Tensor):
                    raise InvertnetError(f"the module's {name} returns {type(output).__name__}, not a tensor: it cannot be a layer")
                out[name] = output
                if len(out) == len(set(wanted)):
                    raise _Done

            return hook

        handles = [submodules[name].register_forward_hook(keep(name)) for name in set(wanted)]
        try:
            self.net(x)
        except _Done:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [name for name in wanted if name not in out]
        if missing:
            raise InvertnetError(f"the module's forward pass never ran {', '.join(missing)}")
        return out[wanted[0]] if isinstance(layers, str) else {name: out[name] for name in wanted}


def weights_hash(module: nn.Module) -> str:
    """The SHA-256 of a module's state dict (names, shapes and values, in order): what its identity records."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
