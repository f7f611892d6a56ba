"""``torch.hub``: the progress bar only.

Scripts import ``tqdm`` from ``torch.hub`` (pytorch/examples vision_transformer: ``from torch.hub import tqdm``);
here it is the ``tqdm`` package's ``tqdm`` (the ``examples`` extra installs it). tritongrad downloads nothing,
so ``torch.hub.load``/``load_state_dict_from_url`` have no counterpart.
"""
from __future__ import annotations

__all__ = ["tqdm"]


def __getattr__(name):
    if name == "tqdm":
        try:
            from tqdm import tqdm
        except ImportError:
            raise ImportError("tritongrad.hub.tqdm is the tqdm package's progress bar: pip install tqdm (or the "
                              "'examples' extra)") from None
        globals()["tqdm"] = tqdm
        return tqdm
    if name in ("load", "load_state_dict_from_url", "download_url_to_file", "list", "help"):
        raise AttributeError(f"tritongrad.hub.{name}: tritongrad downloads no models (torch.hub.{name} has no "
                             f"counterpart); load weights from a file with tritongrad.load")
    raise AttributeError(f"module 'tritongrad.hub' has no attribute {name!r}")
