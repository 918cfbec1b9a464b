"""A grid declared before it ran: every stored run of it was created after the commit that declared it
(the commit order is the evidence the pages cite)."""
import subprocess
from datetime import datetime

import pytest

from equilib.experiments import presets
from equilib.experiments.protocol import run_protocol
from equilib.experiments.settings import RunSettings

from conftest import ROOT

DECLARATIONS = [("nbody", "confirm", "docs/confirmatory-nbody.md"),
                ("nbody", "confirm-clipped", "docs/confirmatory-nbody-clipped.md"),
                ("mnist", "capacity", "docs/confirmatory-capacity.md"),
                ("mnist", "capacity-400k", "docs/confirmatory-capacity-400k.md"),
                ("mnist", "large", "docs/confirmatory-large.md"), ("mnist", "large-budget", "docs/confirmatory-large.md")]


def _declared_at(path: str) -> datetime | None:
    """When ``path`` was first committed (None outside a git checkout with history)."""
    out = subprocess.run(["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%cI", "--", path],
                         capture_output=True, text=True)
    stamps = out.stdout.split()
    return datetime.fromisoformat(stamps[-1]) if out.returncode == 0 and stamps else None


@pytest.mark.parametrize("experiment, preset, document", DECLARATIONS)
def test_every_run_of_a_declared_grid_came_after_its_declaration(experiment, preset, document):
    declared = _declared_at(document)
    if declared is None:
        pytest.skip("no git history here to date the declaration")
    runs = run_protocol(experiment, presets.resolve(experiment, preset),
                        RunSettings(results=ROOT / "results", train_missing=False, progress=False))
    early = [(r.run_id, r.created) for r in runs.itertuples() if datetime.fromisoformat(r.created) <= declared]
    assert not early, f"{document} was committed at {declared}, after these runs of it: {early}"
