"""Live DeepDream inside a headless show, dreaming with the checkpoint's own discriminator."""

from pathlib import Path

import numpy as np

from _tiny_show import write_show

from installation.config import load_show
from installation.show import Show, ShowOptions



def render(checkpoint: Path, dream: bool, frames: int):
    overrides = [
        f"model.checkpoint='{checkpoint}'", f"dream.enabled={'true' if dream else 'false'}", "dream.net='discriminator'",
        "dream.layer='b8'", "dream.strength=1.0", "dream.step=0.2", "dream.decay=1.0",
    ]
    cfg = load_show(write_show(checkpoint.parent), overrides)
    got, details = [], []
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        def grab(k, px):
            got.append(px.copy())
            live = show.dreamer
            if live is not None and live.detail is not None:
                details.append(float(live.detail.abs().max()))
        show.run(frames=frames, on_frame=grab)
        max_detail = show.dreamer.max_detail if show.dreamer is not None else None
    return np.stack(got), details, max_detail


def test_dream_changes_the_frames(tiny_checkpoint):
    plain, _, _ = render(tiny_checkpoint, dream=False, frames=4)
    dreamed, details, _ = render(tiny_checkpoint, dream=True, frames=4)
    assert details, "the dreamer never ran"
    assert np.abs(plain.astype(np.int16) - dreamed.astype(np.int16)).mean() > 0.5


def test_carried_detail_stays_bounded_over_200_frames(tiny_checkpoint):
    _, details, max_detail = render(tiny_checkpoint, dream=True, frames=200)
    assert len(details) == 200
    assert all(np.isfinite(details))
    assert max(details) <= max_detail + 1e-6
    assert max(details[100:]) > 0  # still dreaming at the end, not collapsed to nothing
