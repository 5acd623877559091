"""Models from other tools -> our networks: recognise the file, hand it to its reader.

Artists mostly have NVlabs `.pkl` snapshots (stylegan2-ada-pytorch, or StyleGAN2 configs of the
stylegan3 repository) and rosinality stylegan2-pytorch `.pt` checkpoints. The readers are
nvlabs_pickle.py and rosinality.py; what they share is in formats.py; writing the result as our
checkpoint is checkpoint.convert_checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from installation.models.formats import NVLABS, ROSINALITY, CheckpointError, foreign_format
from installation.models.nvlabs_pickle import load_nvlabs
from installation.models.rosinality import load_rosinality
from installation.models.stylegan2 import Discriminator, Generator

log = logging.getLogger(__name__)


# --- loading and converting -----------------------------------------------------------------


@dataclass
class ForeignModel:
    """Networks read from another tool's file, as ours (CPU, eval mode)."""

    G_ema: Generator
    D: Discriminator | None
    source_format: str
    notes: list[str] = field(default_factory=list)


def load_foreign(path, class_index: int = 0, discriminator: bool = True, log_notes: bool = True) -> ForeignModel:
    """Read an NVlabs .pkl or a rosinality .pt as our networks. CheckpointError naming the file
    if it is neither or holds something we do not support. Notes (e.g. the class a conditional
    model plays) are logged as warnings unless log_notes=False."""
    path = Path(path)
    fmt = foreign_format(path)
    if fmt == NVLABS:
        G, D, notes = load_nvlabs(path, class_index=class_index, discriminator=discriminator)
    elif fmt == ROSINALITY:
        G, D, notes = load_rosinality(path, discriminator=discriminator)
    else:
        raise CheckpointError(f"{path}: not an NVlabs .pkl or a rosinality .pt checkpoint")
    for note in notes if log_notes else ():
        log.warning("%s: %s", path, note)
    return ForeignModel(G_ema=G, D=D, source_format=fmt, notes=notes)
