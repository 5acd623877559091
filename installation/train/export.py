"""Ship a trained model: G_ema + D from a run's checkpoint, without G and optimiser states, fp16 storage.

    installation export runs/hubble64/latest.pt checkpoints/hubble64.pt

The file loads with installation.models.checkpoint (load_state_dict casts fp16 back to fp32), so a
model trained here fits in a few MB of git. D is kept: the dreamer hallucinates with its features.
"""

from __future__ import annotations

import copy


KEEP_EXTRA = ("kimg", "cur_nimg", "train_seconds", "history", "args")


def export_checkpoint(src: str, dst: str, half: bool = True, note: dict | None = None) -> dict:
    from installation.models.checkpoint import load_checkpoint, save_checkpoint
    from installation.models.limits import check_kwargs
    from installation.models.stylegan2 import Discriminator, Generator

    data = load_checkpoint(src)
    check_kwargs(Generator, data["G_kwargs"], src)
    G_ema = Generator(**data["G_kwargs"])
    G_ema.load_state_dict(data["G_ema"])
    D = None
    if data.get("D") is not None and data.get("D_kwargs") is not None:
        check_kwargs(Discriminator, data["D_kwargs"], src)
        D = Discriminator(**data["D_kwargs"])
        D.load_state_dict(data["D"])
    if half:
        G_ema = copy.deepcopy(G_ema).half()
        D = D.half() if D is not None else None
    extra = {k: data["extra"][k] for k in KEEP_EXTRA if k in data["extra"]}
    extra["exported_from"] = str(src)
    extra["storage"] = "float16" if half else "float32"
    extra.update(note or {})
    save_checkpoint(dst, G_ema=G_ema, D=D, extra=extra)
    return extra
