"""The error every model loader raises (CheckpointError), and the useful part of torch's own load errors."""

from __future__ import annotations

import re


class CheckpointError(ValueError):
    """A checkpoint file (or spec) that cannot be used; the message names it."""


def load_error_reason(e: BaseException) -> str:
    """The useful part of a torch.load(weights_only=True) error, e.g. 'Unsupported global: GLOBAL
    argparse.Namespace was not an allowed global by default' (torch's full text also suggests
    retrying with weights_only=False, which we never do), else its first line."""
    text = str(e)
    m = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\s*\n|Check the documentation|$)", text, re.S)
    if m:
        reason = " ".join(m.group(1).split()).split(". Please use")[0].rstrip(".")
        if reason:
            return reason
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if "weights_only" not in line and not line.startswith(_TORCH_BOILERPLATE)]
    named = [line for line in useful if "global" in line.lower()]  # e.g. "... unsupported GLOBAL posix.system ..."
    return (named or useful or lines or [type(e).__name__])[0]


_TORCH_BOILERPLATE = ("Weights only load failed", "Check the documentation", "Please file an issue")
