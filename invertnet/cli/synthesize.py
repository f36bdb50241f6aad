"""``invertnet synthesize --target caffenet:fc8:945 --weights deepsim:fc6``: the image a unit prefers, through a
generator's code (DGN-AM's gradient ascent, XDream's CMA-ES or genetic algorithm; see :mod:`invertnet.synthesis`),
scored by a network's unit or from outside the process (a command, or a rig watching a folder).

    invertnet synthesize --target caffenet:fc8:945 --weights deepsim:fc6 --out bell-pepper.png
    invertnet synthesize --target random:0:fc8:1,2,3 --weights demo/run --method cma --data synthetic --json run.json
    invertnet synthesize --score-command "python3 rig.py" --weights deepsim:fc6 --method ga --keep-all --json cell7.json
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import InvertnetError
from ..version import versioned
from .common import announce, check_image_output, check_outputs, check_results_file, check_seed, stderr, write_json_record
from .options import DEVICE, choices, flag, json_option, out_option, plain

if TYPE_CHECKING:
    import torch

    from ..data.datasets import Source
    from ..inversion import Inverter
    from ..synthesis import CommandScore, FolderScore, SearchConfig, Target, UnitResult

Method = choices("SynthesisMethod", ("gradient", "cma", "ga"))
CmaVariant = choices("CmaVariant", ("hansen", "xdream"))
RECTIFIED = ("conv5", "fc6", "fc7")
"""Code layers that are rectified (pooled or ReLU'd): their codes are bounded below by 0, as DGN-AM's are."""
SEARCH, OUTSIDE, DATA, OUTPUT = "Search", "Scores from outside (a rig, a command)", "Natural images and bounds", "Output"
SCORE_TIMEOUT_S = 600.0


def synthesize_command(
    target: str | None = typer.Option(
        None, "--target", "-t", metavar="ENCODER:LAYER:UNIT", show_default=False, rich_help_panel=SEARCH,
        help="The unit to drive (or give --score-command or --score-folder): an --encoder value (AlexNet, CaffeNet, vgg16, resnet50, vit_b_16 or another torchvision classifier), "
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
    method: Method | None = typer.Option(  # type: ignore[valid-type]
        None, "--method", show_default=False, rich_help_panel=SEARCH,
        help="gradient: DGN-AM; cma: CMA-ES, as XDream's later versions; ga: XDream's genetic algorithm (both see only scores) "
        "[default: gradient for a --target, cma for scores from outside].",
    ),
    iterations: int = typer.Option(200, "--iterations", metavar="N", rich_help_panel=SEARCH, help="Gradient steps, or generations (cma, ga)."),
    seed: int = typer.Option(0, "--seed", metavar="N", rich_help_panel=SEARCH, help="Seeds the start code (and CMA-ES's samples): same seed, same device, same image."),
    population: int | None = typer.Option(
        None, "--population", metavar="N", show_default=False, rich_help_panel=SEARCH,
        help="cma, ga: codes per generation [default: cma 4 + 3 ln(code size), 28 for fc6; ga 20, XDream's].",
    ),
    sigma: float | None = typer.Option(
        None, "--sigma", metavar="F", show_default=False, rich_help_panel=SEARCH, help="cma: the initial step size [default: 3, XDream's for fc6].",
    ),
    cma_variant: CmaVariant | None = typer.Option(  # type: ignore[valid-type]
        None, "--cma-variant", show_default=False, rich_help_panel=SEARCH,
        help="cma: hansen (Hansen's constants, rank-mu update) or xdream (XDream's constants, to reproduce its searches) [default: hansen].",
    ),
    score_command: str | None = typer.Option(
        None, "--score-command", metavar="CMD", show_default=False, rich_help_panel=OUTSIDE,
        help="Score each generation by running CMD with a folder of its images (000.png, ...) as the last argument; "
        "CMD prints one number per image, one per line, in file-name order (README: the protocol).",
    ),
    score_folder: Path | None = typer.Option(
        None, "--score-folder", metavar="DIR", show_default=False, rich_help_panel=OUTSIDE,
        help="Write each generation to DIR/gen_NNNN/ and wait for DIR/gen_NNNN/scores.txt (for rigs that cannot be called).",
    ),
    score_timeout: float | None = typer.Option(
        None, "--score-timeout", metavar="S", show_default=False, rich_help_panel=OUTSIDE,
        help=f"Seconds a generation's scores may take before the search stops, saved [default: {SCORE_TIMEOUT_S:g}].",
    ),
    resume: bool = flag(
        False, "--resume", rich_help_panel=OUTSIDE,
        help="Continue the stopped search of this same command from its state (STEM.state.safetensors beside --out).",
    ),
    keep_all: bool = flag(
        False, "--keep-all", rich_help_panel=OUTPUT,
        help="cma, ga: keep every image scored (STEM.all/, or the --score-folder) and list each with its score in STEM.scores.csv.",
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
    out: Path = out_option(
        Path("synthesized.png"),
        "The best image (several units: a labelled grid); beside it STEM.strip.png, STEM.curve.png and STEM.code.npy (the best codes).",
        rich_help_panel=OUTPUT,
    ),
    json_path: Path | None = json_option("the activations per iteration, the settings and the codes' statistics", rich_help_panel=OUTPUT),
    encoder: str | None = typer.Option(
        None, "--encoder", metavar="SPEC", show_default=False, rich_help_panel=OUTPUT, help="The generator's own encoder [default: the one it was trained against].",
    ),
    device: str = DEVICE,
) -> None:
    """Synthesize the image that drives a unit hardest, searching a generator's code (the paper's fc6 prior by default)."""
    from ..synthesis import SearchConfig, Target

    sources = [name for name, value in (("--target", target), ("--score-command", score_command), ("--score-folder", score_folder)) if value is not None]
    if len(sources) != 1:
        got = f"; got {' and '.join(sources)}" if sources else ""
        raise InvertnetError(f"give one of --target (a network's unit), --score-command or --score-folder (scores from outside){got}")
    outside = target is None
    method = method or ("cma" if outside else "gradient")
    if outside and position is not None:
        raise InvertnetError("--position places a unit of a --target's map; a score from outside has none")
    spec = Target.parse(target, position) if target is not None else None
    if not 1 <= limit <= 100_000:
        raise InvertnetError(f"--limit must be between 1 and 100,000, got {limit}")
    check_seed(seed)
    _check_method_flags(method, population, sigma, cma_variant, outside, keep_all)
    if not outside:
        for name, value in (("--score-timeout", score_timeout), ("--resume", resume or None)):
            if value is not None:
                raise InvertnetError(f"{name} applies to scores from outside (--score-command, --score-folder): a --target is scored here, "
                                     "and its search reruns the same for a seed")
    config = SearchConfig(
        method=method, iterations=iterations, seed=seed, population=population, **({"sigma": sigma} if sigma is not None else {}),
        **({"cma_variant": cma_variant} if cma_variant is not None else {}),
    )
    config.check()
    check_image_output("--out", out)
    check_results_file("--json", json_path, ".json")
    paths = Outputs(out, keep_all, outside)
    check_outputs([], [out, *paths.written()], weights)
    paths.check_state(resume)
    if outside:
        scorer = _scorer(score_command, score_folder, SCORE_TIMEOUT_S if score_timeout is None else score_timeout, paths)
        results, inverter, stopped = _run_outside(scorer, config, weights, encoder, device, data, limit, bound, paths, resume)
    else:
        assert spec is not None
        (results, inverter), stopped = _run(spec, config, weights, encoder, device, data, limit, bound, paths), None
    _write(results, inverter, config, out, paths, json_path, data, limit, bound, stopped, score_command, score_folder, score_timeout)
    if stopped is not None:
        raise InvertnetError(f"{stopped}. The generations so far are saved ({out}, {paths.curve}); run the same command with --resume to go on")


def _check_method_flags(method: str, population: int | None, sigma: float | None, variant: str | None, outside: bool, keep_all: bool) -> None:
    """Refuse a flag that does not apply to ``method`` (a flag is used or refused, never ignored)."""
    cma_only = [name for name, value in (("--sigma", sigma), ("--cma-variant", variant)) if value is not None]
    if method != "cma" and cma_only:
        verb = "apply" if len(cma_only) > 1 else "applies"
        raise InvertnetError(f"{' and '.join(cma_only)} {verb} to --method cma only (CMA-ES's step size and constants), not {method}")
    if method == "gradient":
        if population is not None:
            raise InvertnetError("--population applies to --method cma and ga (codes per generation), not gradient")
        if outside:
            raise InvertnetError("--method gradient needs the score's gradient, which a score from outside the process cannot give: use cma or ga")
        if keep_all:
            raise InvertnetError("--keep-all keeps the images of cma's and ga's generations; gradient scores one image per step (--json has them all)")


class Outputs:
    """The files a search writes beside ``--out``: STEM.strip.png, STEM.curve.png, STEM.code.npy, and STEM.state.safetensors
    (a search scored from outside, to resume), STEM.scores.csv and STEM.all/ (``--keep-all``)."""

    def __init__(self, out: Path, keep_all: bool, outside: bool) -> None:
        stem = out.with_name(out.stem)
        self.strip, self.curve, self.code = Path(f"{stem}.strip.png"), Path(f"{stem}.curve.png"), Path(f"{stem}.code.npy")
        self.state = Path(f"{stem}.state.safetensors") if outside else None
        self.scores = Path(f"{stem}.scores.csv") if keep_all else None
        self.images = Path(f"{stem}.all") if keep_all else None

    def written(self) -> list[Path]:
        return [path for path in (self.strip, self.curve, self.code, self.state, self.scores) if path is not None]

    def check_state(self, resume: bool) -> None:
        """A search from outside keeps its state: a new one must not write over a stopped one's, and --resume needs one."""
        if self.state is None:
            return
        if resume and not self.state.is_file():
            raise InvertnetError(f"--resume: there is no saved search at {self.state} (the state a search scored from outside leaves beside --out)")
        if not resume and self.state.exists():
            raise InvertnetError(f"{self.state} holds a search already: pass --resume to continue it, or choose another --out")


def _scorer(command: str | None, folder: Path | None, timeout: float, paths: Outputs) -> CommandScore | FolderScore:
    from ..synthesis import CommandScore, FolderScore

    if command is not None:
        return CommandScore(command, timeout, keep=paths.images)
    assert folder is not None
    return FolderScore(folder, timeout)


def _run(
    spec: Target, config: SearchConfig, weights: str | None, encoder: str | None, device: str, data: str | None, limit: int, bound: str,
    paths: Outputs,
) -> tuple[list[UnitResult], Inverter]:
    """Load the generator and the target's encoder, bound the code, and search for each unit with a progress bar."""
    from ..data.datasets import open_source
    from ..devices import resolve_device
    from ..encoders import load_encoder
    from ..inversion import Inverter
    from ..synthesis import synthesize_units
    from ..synthesis.journal import ScoreLog
    from ..synthesis.targets import check_target
    from .progress import progress_bar

    torch_device = resolve_device(device)
    natural = open_source(data, "val") if data is not None else None
    inverter = Inverter.load("fc6" if weights is None else None, weights, encoder=encoder, device=torch_device)
    encoder = inverter.encoder if spec.encoder == inverter.encoder.identity else load_encoder(spec.encoder, device=torch_device)
    check_target(spec, encoder.feature_shape(spec.layer))  # before the bounds' pass over the natural images
    _, lower, upper, start = _start(inverter, config.seed, bound, natural, limit)
    logs = None
    if paths.scores is not None:
        logs = {unit: ScoreLog(paths.scores, paths.images, unit) for unit in spec.units}
        logs[spec.units[0]].start()
    with progress_bar() as progress:
        tasks = {unit: progress.add_task(f"{config.method} unit {unit}", total=config.iterations) for unit in spec.units}
        results = synthesize_units(
            inverter, encoder, spec, config, start=start, lower=lower, upper=upper, natural=natural, natural_count=limit,
            on_iteration=lambda unit, done, best: progress.update(tasks[unit], completed=done, description=f"{config.method} unit {unit}: best {best:.4g}"),
            on_generation=None if logs is None else logs.__getitem__,
        )
    return results, inverter


def _run_outside(
    scorer: CommandScore | FolderScore, config: SearchConfig, weights: str | None, encoder: str | None, device: str, data: str | None,
    limit: int, bound: str, paths: Outputs, resume: bool,
) -> tuple[list[UnitResult], Inverter, str | None]:
    """One search scored from outside: the generator alone (its encoder only for --data's bounds), the state saved after
    each generation; a scorer that fails ends it with the generations so far (the message is returned, not raised)."""
    import math

    from ..data.datasets import open_source
    from ..devices import resolve_device
    from ..inversion import Inverter, resolve_weights
    from ..synthesis import SearchStopped, synthesize_outside
    from ..synthesis.journal import ScoreLog, load_state, save_state
    from .progress import progress_bar

    torch_device = resolve_device(device)
    natural = open_source(data, "val") if data is not None else None
    if natural is None:
        inverter = Inverter.load_generator(resolve_weights(weights, "fc6" if weights is None else None), device=torch_device)
    else:
        inverter = Inverter.load("fc6" if weights is None else None, weights, encoder=encoder, device=torch_device)
    shape, lower, upper, start = _start(inverter, config.seed, bound, natural, limit)
    settings = _search_settings(config, scorer.describe(), inverter.source, math.prod(shape), bound, data, limit)
    assert paths.state is not None
    state = load_state(paths.state, settings) if resume else None
    done = int(state["done"]) if state is not None else 0
    scorer.generation = done
    log = None
    if paths.scores is not None:
        log = ScoreLog(paths.scores, None, None, files=scorer.folder)  # --keep-all: a command's folders are kept, a rig's stay
        log.start(done)
    stopped = None
    with progress_bar() as progress:
        task = progress.add_task(f"{config.method} ({scorer.describe()})", total=config.iterations, completed=done)
        try:
            result = synthesize_outside(
                inverter, scorer, scorer.describe(), config, start=start, lower=lower, upper=upper,
                on_iteration=lambda n, best: progress.update(task, completed=n, description=f"{config.method}: best {best:.4g}"),
                on_generation=log, checkpoint=lambda saved: save_state(paths.state, saved, settings), resume=state,
            )
        except SearchStopped as error:
            if error.result is None:
                raise InvertnetError(f"{error.message}; no generation was scored, nothing is saved") from None
            from ..synthesis import OutsideTarget, UnitResult

            result, stopped = UnitResult(OutsideTarget(scorer.describe()), 0, error.result), error.message
    return [result], inverter, stopped


def _search_settings(config: SearchConfig, score: str, generator: str, dimensions: int, bound: str, data: str | None, limit: int) -> dict[str, object]:
    """What decides a search scored from outside, recorded with its state: a resume must match all but ``iterations``."""
    return {
        "method": config.method, "seed": config.seed, "score": score, "generator": generator, "dimensions": dimensions, "bound": bound,
        "data": data, "limit": limit, "iterations": config.iterations, **_method_settings(config, dimensions),
    }


def _method_settings(config: SearchConfig, dimensions: int) -> dict[str, float | int | str | None]:
    """The search's own settings; ``null`` for those of the other methods (they did not apply)."""
    from ..synthesis.cmaes import default_population

    gradient, cma, ga = (config.method == name for name in ("gradient", "cma", "ga"))
    genetic = config.genetic_settings()
    population = default_population(dimensions) if cma else genetic.population
    return {
        "start_lr": config.start_lr if gradient else None, "end_lr": config.end_lr if gradient else None,
        "decay": config.decay if gradient else None, "sigma": config.sigma if cma else None,
        "cma_variant": config.cma_variant if cma else None,
        "population": None if gradient else config.population or population,
        "mutation_rate": genetic.mutation_rate if ga else None, "mutation_size": genetic.mutation_size if ga else None,
        "selectivity": genetic.selectivity if ga else None, "heritability": genetic.heritability if ga else None,
        "conserve": genetic.conserve if ga else None,
    }


def _start(
    inverter: Inverter, seed: int, bound: str, natural: Source | None, limit: int,
) -> tuple[tuple[int, ...], torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    """The code's shape, its bounds (--bound) and the start code both searches share (DGN-AM's, from ``seed``)."""
    from ..synthesis import start_code

    shape = _code_shape(inverter)
    lower, upper = _bounds(inverter, shape, bound, natural, limit)
    return shape, lower, upper, start_code(shape, seed, lower, upper)


def _code_shape(inverter: Inverter) -> tuple[int, ...]:
    """The shape of one code the generator decodes: its layer's features (a VAE's or autoencoder's code)."""
    import torch

    if inverter.encoder is None:  # the generator alone: the shape its file records
        return tuple(inverter.generator.feature_shape)
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
    results: list[UnitResult], inverter: Inverter, config: SearchConfig, out: Path, paths: Outputs, json_path: Path | None,
    data: str | None, limit: int, bound: str, stopped: str | None, score_command: str | None, score_folder: Path | None,
    score_timeout: float | None,
) -> None:
    """The best image (or grid), the strip, the curves, the best codes, the JSON, and one line per unit on stderr."""
    import torch

    from ..data.captions import stacked
    from ..data.imageio import save_image
    from ..files.features import Features, write_features
    from ..synthesis.pictures import curves, search_strip, units_grid
    from ..synthesis.search import step_name

    outside = score_command is not None or score_folder is not None
    target = results[0].target.label(0) if outside else ", ".join(dict.fromkeys(r.target.label(r.unit).rsplit(":", 1)[0] for r in results))
    done = len(results[0].search.best)
    steps = f"{done} {step_name(config.method)}s" + ("" if stopped is None else f" of {config.iterations}, stopped")
    title = f"{target}: {config.method}, {steps}, generator {inverter.label}"
    picture = results[0].search.image if len(results) == 1 else units_grid(results, title)
    codes = torch.stack([r.search.code for r in results])
    paths_written = [save_image(picture, out), save_image(stacked([search_strip(r, config.method) for r in results]), paths.strip),
                     save_image(curves(results, config.method), paths.curve),
                     write_features(Features(codes, [r.target.label(r.unit) for r in results]), paths.code)]
    if paths.state is not None:
        paths_written.append(paths.state)
    if paths.scores is not None:
        paths_written.append(paths.scores)
    for path in paths_written:
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
    kind = "command" if score_command is not None else "folder" if score_folder is not None else "unit"
    record = {
        "method": config.method, "iterations": config.iterations, "seed": config.seed, "generator": inverter.source,
        "code": {"layer": inverter.layer, "model": inverter.model, "dimensions": dimensions},
        "settings": {**_method_settings(config, dimensions), "bound": bound, "data": data, "limit": limit},
        "score": {
            "kind": kind, "command": score_command, "folder": None if score_folder is None else str(score_folder),
            "timeout_s": (SCORE_TIMEOUT_S if score_timeout is None else score_timeout) if outside else None,
        },
        "complete": stopped is None, "stopped": stopped,
        "files": {
            "best_codes": str(paths.code), "state": None if paths.state is None else str(paths.state),
            "scores_csv": None if paths.scores is None else str(paths.scores),
        },
        "units": [r.summary() for r in results],
    }
    write_json_record(json_path, versioned("synthesize", record))


def register(app: typer.Typer) -> None:
    app.command("synthesize", short_help="The image a unit prefers, through a generator prior (DGN-AM, XDream's CMA-ES).")(plain(synthesize_command))
