"""Files the package writes and reads back: written atomically (a reader, or a run killed
mid-write, never sees half a file), read without unpickling arbitrary objects."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path


def atomic_write(path, write) -> None:
    """Call ``write(tmp_path)``, then rename onto ``path``: readers never see half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path):
    """A ``torch.save`` file of tensors and plain containers, read with ``weights_only=True``
    (which refuses to build any other object); torch's parse errors propagate."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on foreign pickle protocols
        return torch.load(path, map_location="cpu", weights_only=True)
