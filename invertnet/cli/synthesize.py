"""``invertnet synthesize --target caffenet:fc8:945 --weights deepsim:fc6``: the image a unit prefers, through a
generator's code (DGN-AM's gradient ascent or XDream's CMA-ES; see :mod:`invertnet.synthesis`).

    invertnet synthesize --target caffenet:fc8:945 --weights deepsim:fc6 --out bell-pepper.png
    invertnet synthesize --target random:0:fc8:1,2,3 --weights demo/run --method cma --data synthetic --json run.json
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InvertnetError
from ..names import MAX_SEED
from ..version import versioned
from .common import announce, check_image_output, check_outputs, check_results_file, stderr, write_json_record
from .options import DEVICE, choices, json_option, out_option, plain

if TYPE_CHECKING:
    import torch

    from ..data.datasets import Source
    from ..inversion import Inverter
    from ..synthesis import SearchConfig, Target, UnitResult

Method = choices("SynthesisMethod", ("gradient", "cma"))
RECTIFIED = ("conv5", "fc6", "fc7")
"""Code layers that are rectified (pooled or ReLU'd): their codes are bounded below by 0, as DGN-AM's are."""
SEARCH, DATA, OUTPUT = "Search", "Natural images and bounds", "Output"


def synthesize_command(
    target: str = typer.Option(
        ..., "--target", "-t", metavar="ENCODER:LAYER:UNIT", rich_help_panel=SEARCH,
        help="The unit to drive: an --encoder value (AlexNet, CaffeNet, vgg16, resnet50, vit_b_16 or another torchvision classifier), "
        "a layer it taps, a unit (from 0), e.g. caffenet:fc8:945, random:0:conv5:17 or vgg16:conv5_3:7; UNIT,UNIT,... for several (a grid).",
    ),
    position: str | None = typer.Option(
        None, "--position", metavar="X,Y", show_default=False, rich_help_panel=SEARCH, help="The unit's place in a convolutional map [default: its centre].",
    ),
    weights: str | None = typer.Option(
        None, "--weights", "-w", metavar="WEIGHTS", show_default=False, rich_help_panel=SEARCH,
        help="The generator whose code is searched: a run folder, a .safetensors file or deepsim:NAME [default: the fc6 generator, "
        "looked up as invert does: $INVERTNET_WEIGHTS, the user cache, then deepsim:fc6 if cached].",
    ),
    method: Method = typer.Option("gradient", "--method", rich_help_panel=SEARCH, help="gradient: DGN-AM; cma: XDream's gradient-free CMA-ES."),  # type: ignore[valid-type]
    iterations: int = typer.Option(200, "--iterations", metavar="N", rich_help_panel=SEARCH, help="Gradient steps, or CMA-ES generations."),
    seed: int = typer.Option(0, "--seed", metavar="N", rich_help_panel=SEARCH, help="Seeds the start code (and CMA-ES's samples): same seed, same device, same image."),
    population: int | None = typer.Option(
        None, "--population", metavar="N", show_default=False, rich_help_panel=SEARCH, help="cma: codes per generation [default: 4 + 3 ln(code size), 28 for fc6].",
    ),
    sigma: float | None = typer.Option(
        None, "--sigma", metavar="F", show_default=False, rich_help_panel=SEARCH, help="cma: the initial step size [default: 3, XDream's for fc6].",
    ),
    data: str | None = typer.Option(
        None, "--data", metavar="FOLDER", show_default=False, rich_help_panel=DATA,
        help="Natural images (a folder, an ILSVRC-2012 root's val/, or synthetic): each unit's best of them is the yardstick, "
        "and the codes' upper bound comes from them.",
    ),
    limit: int = typer.Option(256, "--limit", metavar="N", rich_help_panel=DATA, help="How many of the --data images (the first N)."),
    bound: str = typer.Option(
        "auto", "--bound", metavar="auto|none|FILE|NUMBER", rich_help_panel=DATA,
        help="The code's upper bound per unit. auto: DGN-AM's mean + 3 std over the --data images' codes (none without --data), "
        "with 0 below for a rectified code (conv5, fc6, fc7); FILE: DGN-AM's act_range format; NUMBER: one bound for all.",
    ),
    out: Path = out_option(Path("synthesized.png"), "The best image (several units: a labelled grid); beside it STEM.strip.png and STEM.curve.png.", rich_help_panel=OUTPUT),
    json_path: Path | None = json_option("the activations per iteration, the settings and the codes' statistics", rich_help_panel=OUTPUT),
    encoder: str | None = typer.Option(
        None, "--encoder", metavar="SPEC", show_default=False, rich_help_panel=OUTPUT, help="The generator's own encoder [default: the one it was trained against].",
    ),
    device: str = DEVICE,
) -> None:
    """Synthesize the image that drives a unit hardest, searching a generator's code (the paper's fc6 prior by default)."""
    from ..synthesis import SearchConfig, Target

    spec = Target.parse(target, position)
    if not 1 <= limit <= 100_000:
        raise InvertnetError(f"--limit must be between 1 and 100,000, got {limit}")
    if not 0 <= seed <= MAX_SEED:
        raise InvertnetError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed}")
    given = [flag for flag, value in (("--population", population), ("--sigma", sigma)) if value is not None]
    if method != "cma" and given:
        verb = "apply" if len(given) > 1 else "applies"
        raise InvertnetError(f"{' and '.join(given)} {verb} to --method cma only (CMA-ES's population and step size), not {method}")
    config = SearchConfig(method=method, iterations=iterations, seed=seed, population=population, **({"sigma": sigma} if sigma is not None else {}))
    config.check()
    check_image_output("--out", out)
    check_results_file("--json", json_path, ".json")
    extra = [out.with_name(f"{out.stem}.strip.png"), out.with_name(f"{out.stem}.curve.png")]
    check_outputs([], [out, *extra], weights)
    results, inverter = _run(spec, config, weights, encoder, device, data, limit, bound)
    _write(results, inverter, config, out, extra, json_path, data, limit, bound)


def _run(
    spec: Target, config: SearchConfig, weights: str | None, encoder: str | None, device: str, data: str | None, limit: int, bound: str,
) -> tuple[list[UnitResult], Inverter]:
    """Load the generator and the target's encoder, bound the code, and search for each unit with a progress bar."""
    from ..data.datasets import open_source
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..inversion import Inverter
    from ..synthesis import start_code, synthesize_units
    from ..synthesis.targets import check_target
    from .progress import progress_bar

    torch_device = resolve_device(device)
    natural = open_source(data, "val") if data is not None else None
    inverter = Inverter.load("fc6" if weights is None else None, weights, encoder=encoder, device=torch_device)
    encoder = inverter.encoder if spec.encoder == inverter.encoder.identity else load_encoder(spec.encoder, device=torch_device)
    check_target(spec, encoder.feature_shape(spec.layer))  # before the bounds' pass over the natural images
    shape = _code_shape(inverter)
    lower, upper = _bounds(inverter, shape, bound, natural, limit)
    start = start_code(shape, config.seed, lower, upper)
    with progress_bar() as progress:
        tasks = {unit: progress.add_task(f"{config.method} unit {unit}", total=config.iterations) for unit in spec.units}
        results = synthesize_units(
            inverter, encoder, spec, config, start=start, lower=lower, upper=upper, natural=natural, natural_count=limit,
            on_iteration=lambda unit, done, best: progress.update(tasks[unit], completed=done, description=f"{config.method} unit {unit}: best {best:.4g}"),
        )
    return results, inverter


def _method_settings(config: SearchConfig, dimensions: int) -> dict[str, float | int | None]:
    """The search's own settings; ``null`` for those of the other method (they did not apply)."""
    from ..synthesis.cmaes import default_population

    gradient = config.method == "gradient"
    return {
        "start_lr": config.start_lr if gradient else None, "end_lr": config.end_lr if gradient else None,
        "decay": config.decay if gradient else None, "sigma": None if gradient else config.sigma,
        "population": None if gradient else config.population or default_population(dimensions),
    }


def _code_shape(inverter: Inverter) -> tuple[int, ...]:
    """The shape of one code the generator decodes: its layer's features (a VAE's or autoencoder's code)."""
    import torch

    blank = torch.zeros(1, 3, inverter.input_size, inverter.input_size)
    return tuple(inverter.features(blank).shape[1:])


def _bounds(
    inverter: Inverter, shape: tuple[int, ...], bound: str, natural: Source | None, limit: int,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """--bound as (lower, upper) tensors of shape (1, *shape), or None where unbounded."""
    import torch

    from ..data.datasets import eval_batches
    from ..synthesis.reference import code_bounds, read_bound_file

    rectified = inverter.model == "inverter" and inverter.layer in RECTIFIED
    lower = torch.zeros(1, *shape) if rectified else None
    if bound == "none":
        return None, None
    if bound == "auto":
        if natural is None or not rectified:
            return lower, None
        codes = torch.cat([inverter.features(images).cpu() for _, images in eval_batches(natural, limit, 32, size=inverter.input_size)])
        return code_bounds(codes)
    try:
        value = float(bound)
    except ValueError:
        return lower, read_bound_file(bound, shape)
    if not (value > 0 and value < float("inf")):
        raise InvertnetError(f"--bound {bound}: a number bound must be positive and finite")
    return lower, torch.full((1, *shape), value)


def _write(
    results: list[UnitResult], inverter: Inverter, config: SearchConfig, out: Path, extra: list[Path], json_path: Path | None,
    data: str | None, limit: int, bound: str,
) -> None:
    """The best image (or grid), the strip, the curves, the JSON, and one line per unit on stderr."""
    from ..data.captions import stacked
    from ..data.imageio import save_image
    from ..synthesis.pictures import curves, search_strip, units_grid

    target = ", ".join(dict.fromkeys(r.target.label(r.unit).rsplit(":", 1)[0] for r in results))
    steps = f"{config.iterations} {'generations' if config.method == 'cma' else 'iterations'}"
    title = f"{target}: {config.method}, {steps}, generator {inverter.label}"
    picture = results[0].search.image if len(results) == 1 else units_grid(results, title)
    paths = [save_image(picture, out), save_image(stacked([search_strip(r, config.method) for r in results]), extra[0]),
             save_image(curves(results, config.method), extra[1])]
    for path in paths:
        announce(path, json_path)
    for r in results:
        versus = f"; {r.ratio:.2f}x the best of {r.natural_count} natural images ({r.natural:.4g}, {r.natural_image})" if r.ratio is not None else ""
        if r.natural is not None and r.ratio is None:
            versus = f"; the best of {r.natural_count} natural images reaches {r.natural:.4g} (<= 0: no ratio)"
        stderr.print(
            f"{r.target.label(r.unit)}: {r.search.activation:.4g} after {r.search.evaluations[-1]:,} images scored{versus}", highlight=False, soft_wrap=True,
        )
    if json_path is None:
        return
    dimensions = results[0].search.code.numel()
    record = {
        "method": config.method, "iterations": config.iterations, "seed": config.seed, "generator": inverter.source,
        "code": {"layer": inverter.layer, "model": inverter.model, "dimensions": dimensions},
        "settings": {**_method_settings(config, dimensions), "bound": bound, "data": data, "limit": limit},
        "units": [r.summary() for r in results],
    }
    write_json_record(json_path, versioned("synthesize", record))


def register(app: typer.Typer) -> None:
    app.command("synthesize", short_help="The image a unit prefers, through a generator prior (DGN-AM, XDream's CMA-ES).")(plain(synthesize_command))
