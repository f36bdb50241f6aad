"""An HTML report of an evaluation, viewable offline: the table and per-image thumbnails.

The page is one self-contained ``index.html`` beside ``images/``; it loads nothing from
the network.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from ..encoders import is_paper_family
from ..files.atomic import atomic_path
from .protocol import PAPER_COLUMNS, PAPER_TABLE2, EvalResult

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.paper td { color: #777; }
.gallery td, .gallery th { text-align: center; vertical-align: top; font-size: 12px; }
.gallery th { max-width: 224px; overflow-wrap: anywhere; }
.gallery span { display: block; margin-top: 2px; }
img { width: 224px; height: 224px; image-rendering: auto; display: block; margin: 0 auto; }
"""


def _fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


SHORT_NAMES = {"Mahendran & Vedaldi (optimize)": "M&V optimize", "mean training image": "mean image"}
SHORT_PAPER = {"DeePSiM (AlexNet conv5)": "DeePSiM", "Dosovitskiy & Brox": "D&B CVPR16", "Mahendran & Vedaldi": "M&V",
               "DeePSiM, image loss (--loss image)": "image loss", "DeePSiM (VideoNet conv5)": "DeePSiM VideoNet"}
LEGEND = ("method: loss preset: run (--wide or --json for the paths); M&V: Mahendran & Vedaldi; D&B: Dosovitskiy & Brox, "
          "CVPR 2016; errors in % of a random test image's; sharp: fine detail (periods of 8 px and less) in % of the input's; "
          "lattice: the period of a pattern the inputs do not have")
TOP1_LEGEND = "; top-1: class agreement with the input, %"
"""The legend's last entry, for the tables that show top-1 (not the compact one)."""


def short_method(result: EvalResult) -> str:
    """The method as the narrow table names it: ``preset: run`` (the run's folder, or the file's stem) for a generator."""
    head, colon, source = result.method.rpartition(": ")
    if colon and source == result.checkpoint:
        path = Path(source)
        return f"{head}: {path.parent.name if path.stem in ('generator', 'checkpoint') else path.stem}"
    return SHORT_NAMES.get(result.method, result.method)


def lattice(result: EvalResult) -> str:
    """The lattice column: the period of a lattice the reconstructions have and the inputs do not, or ``-``."""
    pattern = result.periodicity
    if not pattern or not pattern.get("lattice"):
        return "-"
    return f"{float(pattern['period_px']):.1f} px"  # type: ignore[arg-type]


def metrics_rows(results: Sequence[EvalResult], wide: bool = True, compact: bool = False) -> list[list[str]]:
    """The table's rows as text (:data:`HEADER`, :data:`NARROW_HEADER` unless ``wide``, :data:`COMPACT_HEADER` if ``compact``),
    the same in the terminal, the HTML page and docs."""
    rows = []
    for r in results:
        errors = [_fmt(r.image_error, 100), _fmt(r.feature_error, 100), _fmt(r.psnr, 1, 2), _fmt(r.ssim, 1, 3)]
        detail = [_fmt(r.lpips, 1, 3), _fmt(r.sharpness, 100), lattice(r)]
        if wide:
            rows.append([r.method, r.layer, r.encoder, r.comparator, *errors, _fmt(r.ms_ssim, 1, 3), *detail,
                         _fmt(r.top1_agreement, 100), _fmt(r.top5_agreement, 100)])
        elif compact:
            rows.append([short_method(r), r.layer, *errors, *detail[1:]])
        else:
            rows.append([short_method(r), r.layer, *errors, *detail, _fmt(r.top1_agreement, 100)])
    return rows


HEADER = ["method", "layer", "encoder", "comparator", "image %", "feature %", "PSNR", "SSIM", "MS-SSIM", "LPIPS", "sharp %", "lattice",
          "top-1 %", "top-5 %"]
NARROW_HEADER = ["method", "layer", "image %", "feat. %", "PSNR", "SSIM", "LPIPS", "sharp %", "lattice", "top-1 %"]
"""The default table's columns: it fits 100 columns; the encoder and comparator go to its caption, MS-SSIM and top-5 to --wide."""
COMPACT_HEADER = ["method", "layer", "image %", "feat. %", "PSNR", "SSIM", "sharp %", "lattice"]
"""The default table under 100 columns (80 fit, a row a line): LPIPS and top-1 go to --wide and the JSON too."""


def paper_rows(layers: Sequence[str], wide: bool = True, compact: bool = False) -> list[list[str]]:
    """Table 2 of the paper for ``layers``, in the same columns."""
    rows = []
    for layer in dict.fromkeys(layers):
        for method, (image, feature) in PAPER_TABLE2.get(PAPER_COLUMNS.get(layer, ""), {}).items():
            figures = ["-" if image is None else f"{image}", "-" if feature is None else f"{feature}"] + [""] * (len(HEADER) - 6)
            if wide:
                rows.append([f"paper: {method}", layer, "caffenet (paper)", "", *figures])
            else:
                rows.append([f"paper: {SHORT_PAPER.get(method, method)}", layer, *figures[: len(COMPACT_HEADER if compact else NARROW_HEADER) - 2]])
    return rows


def write_report(folder: str | Path, results: Sequence[EvalResult], thumbnails: int) -> Path:
    """Write ``folder/index.html`` for ``results``; thumbnails must be in ``folder/images``."""
    folder = Path(folder)
    first = results[0]
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>invertnet eval</title><style>{STYLE}</style></head><body>"]
    out.append("<h1>Normalized inversion error and image quality</h1>")
    out.append(f"<p>n = {first.n} images from {html.escape(first.data)}; encoder {html.escape(first.encoder)}. "
               "Errors in % (100 = a random test image). Paper rows: CaffeNet with ImageNet weights, ILSVRC-2012 val.</p>")
    out.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADER) + "</tr>")
    for row in metrics_rows(results):
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    for row in paper_rows([r.layer for r in results if is_paper_family(r.encoder)]):
        out.append("<tr class='paper'>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    reasons = list(dict.fromkeys(r.lpips_unavailable for r in results if r.lpips is None))
    if reasons:
        out.append(f"<p>LPIPS: not measured ({html.escape('; '.join(reasons) or 'no reason recorded')}).</p>")
    out.append("<h2>Images</h2><table class='gallery'><tr><th>input</th>")
    out.extend(f"<th title='{html.escape(r.method)}'>{html.escape(short_method(r))} ({r.layer})</th>" for r in results)
    out.append("</tr>")
    for index, name in enumerate(first.names[:thumbnails]):
        cells = [f"<td><img src='images/input/{quote(name)}.png' alt='input'><span>{html.escape(name)}</span></td>"]
        for m, r in enumerate(results):
            error = r.per_image["image_distance"][index] / r.image_normalizer * 100
            cells.append(f"<td><img src='images/method{m}/{quote(name)}.png' alt='reconstruction'><span>image error {error:.0f}%</span></td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></body></html>\n")
    path = folder / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out))
    return path
