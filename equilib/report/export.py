"""The README's figures: the book's own charts, drawn from the committed store and saved as PNGs."""
from __future__ import annotations

from pathlib import Path

import vl_convert as vlc

from ..experiments import presets
from ..experiments.protocol import run_protocol
from ..experiments.settings import RunSettings
from . import charts


def export_readme_figures(results: str | Path, out: str | Path, *, preset: str = "cpu",
                          scale: float = 2.0) -> list[Path]:
    """Figure 1 and Figure 2 as PNGs, drawn by the book's own chart functions from the stored runs.

    Trains nothing; the charts show their controls' default settings (honest
    protocol, both data sets, every size). Uses vl-convert, which renders
    offline.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = RunSettings(results=results, train_missing=False, progress=False)
    figures = {}
    ratios, mses = charts.nbody_frames(run_protocol("nbody", presets.resolve("nbody", preset), run))
    if len(ratios):
        figures["figure1-nbody.png"] = charts.nbody_figure(ratios, mses)
    mnist_runs = run_protocol("mnist", presets.resolve("mnist", preset), run)
    if len(mnist_runs):
        figures["figure2-mnist.png"] = charts.mnist_figure(charts.mnist_frame(mnist_runs))
    if not figures:
        raise ValueError(f"the run store at {results} holds no {preset}-preset runs to draw")
    written = []
    for name, chart in figures.items():
        png = vlc.vegalite_to_png(chart.to_json(), scale=scale)
        (out / name).write_bytes(png)
        written.append(out / name)
    return written
