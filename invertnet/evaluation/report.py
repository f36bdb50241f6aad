"""An HTML report of an evaluation, viewable offline: the table and per-image thumbnails.

The page is one self-contained ``index.html`` beside ``images/``; it loads nothing from
the network.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from ..files.atomic import atomic_path
from .protocol import PAPER_COLUMNS, PAPER_TABLE2, EvalResult

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.paper td { color: #777; }
.gallery td { text-align: center; vertical-align: top; font-size: 12px; }
img { width: 112px; height: 112px; image-rendering: auto; display: block; }
"""


def _fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def metrics_rows(results: Sequence[EvalResult]) -> list[list[str]]:
    """The table's rows as text, the same in the terminal, the HTML page and docs."""
    rows = []
    for r in results:
        rows.append([
            r.method, r.layer, r.alexnet, r.comparator, _fmt(r.image_error, 100), _fmt(r.feature_error, 100), _fmt(r.psnr, 1, 2),
            _fmt(r.ssim, 1, 3), _fmt(r.ms_ssim, 1, 3), _fmt(r.lpips, 1, 3), _fmt(r.top1_agreement, 100), _fmt(r.top5_agreement, 100),
        ])
    return rows


HEADER = ["method", "layer", "encoder", "comparator", "image %", "feature %", "PSNR", "SSIM", "MS-SSIM", "LPIPS", "top-1 %", "top-5 %"]


def paper_rows(layers: Sequence[str]) -> list[list[str]]:
    """Table 2 of the paper for ``layers``, in the same columns."""
    rows = []
    for layer in dict.fromkeys(layers):
        for method, (image, feature) in PAPER_TABLE2.get(PAPER_COLUMNS.get(layer, ""), {}).items():
            rows.append([f"paper: {method}", layer, "caffenet (paper)", "", "-" if image is None else f"{image}", "-" if feature is None else f"{feature}"] + [""] * 6)
    return rows


def write_report(folder: str | Path, results: Sequence[EvalResult], thumbnails: int) -> Path:
    """Write ``folder/index.html`` for ``results``; thumbnails must be in ``folder/images``."""
    folder = Path(folder)
    first = results[0]
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>invertnet eval</title><style>{STYLE}</style></head><body>"]
    out.append("<h1>Normalized inversion error and image quality</h1>")
    out.append(f"<p>n = {first.n} images from {html.escape(first.data)}; AlexNet {html.escape(first.alexnet)}. "
               "Errors in % (100 = a random test image). Paper rows: CaffeNet with ImageNet weights, ILSVRC-2012 val.</p>")
    out.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADER) + "</tr>")
    for row in metrics_rows(results):
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    for row in paper_rows([r.layer for r in results]):
        out.append("<tr class='paper'>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    notes = {r.lpips_unavailable for r in results if r.lpips_unavailable}
    for note in notes:
        out.append(f"<p>LPIPS unavailable: {html.escape(note)}</p>")
    out.append("<h2>Images</h2><table class='gallery'><tr><th>input</th>")
    out.extend(f"<th>{html.escape(r.method)} ({r.layer})</th>" for r in results)
    out.append("</tr>")
    for index, name in enumerate(first.names[:thumbnails]):
        cells = [f"<td><img src='images/input/{quote(name)}.png' alt='input'>{html.escape(name)}</td>"]
        for m, r in enumerate(results):
            error = r.per_image["image_distance"][index] / r.image_normalizer * 100
            cells.append(f"<td><img src='images/method{m}/{quote(name)}.png' alt='reconstruction'>image error {error:.0f}%</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></body></html>\n")
    path = folder / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out))
    return path
