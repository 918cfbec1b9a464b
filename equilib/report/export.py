"""The README's figures: the book's own charts, drawn from the committed store and saved as PNGs."""
from __future__ import annotations

from pathlib import Path

import vl_convert as vlc

from ..experiments import presets
from ..experiments.protocol import joined, run_protocol
from ..experiments.settings import RunSettings
from . import charts


def readme_charts(results: str | Path, *, preset: str = "cpu", large: str | None = "large") -> dict:
    """The README's figures by file name, drawn by the book's own chart functions from the stored runs.

    Trains nothing; the charts show their controls' default settings (honest
    protocol, both data sets, every size). Figure 2 shows what the MNIST page's
    does: the ``preset``'s runs and every stored run of the ``large`` preset.
    """
    run = RunSettings(results=results, train_missing=False, progress=False)
    figures = {}
    ratios, mses = charts.nbody_frames(run_protocol("nbody", presets.resolve("nbody", preset), run))
    if len(ratios):
        figures["figure1-nbody.png"] = charts.nbody_figure(ratios, mses)
    mnist_runs = run_protocol("mnist", presets.resolve("mnist", preset), run)
    if large and len(mnist_runs):
        mnist_runs = joined(mnist_runs, run_protocol("mnist", presets.resolve("mnist", large), run))
    if len(mnist_runs):
        figures["figure2-mnist.png"] = charts.mnist_figure(charts.mnist_frame(mnist_runs))
    if not figures:
        raise ValueError(f"the run store at {results} holds no {preset}-preset runs to draw")
    return figures


def export_readme_figures(results: str | Path, out: str | Path, *, preset: str = "cpu", large: str | None = "large",
                          scale: float = 2.0) -> list[Path]:
    """:func:`readme_charts` as PNGs in ``out``, with vl-convert, which renders offline."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, chart in readme_charts(results, preset=preset, large=large).items():
        png = vlc.vegalite_to_png(chart.to_json(), scale=scale)
        (out / name).write_bytes(png)
        written.append(out / name)
    return written
