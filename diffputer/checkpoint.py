"""Checkpoints of the EM loop: a fit killed mid-way resumes where it stopped.

After every EM iteration but the last, ``run_em`` writes its whole state (the completed
tables, the last E-step's mean, the denoiser's weights, the random generator's state and the
history) to ``checkpoint_dir/em_checkpoint.pt``, atomically (temporary file, then rename).
A fit started with the same directory, data, settings and seed resumes after the last
completed iteration and ends with the result an uninterrupted run gives. The file is removed
when the fit completes. A checkpoint of another fit is refused, never silently used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .history import History
from ._files import atomic_write, load_tensors

FILENAME = "em_checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used to resume this fit."""


@dataclass
class EMState:
    iteration: int  # EM iterations completed
    tables: np.ndarray  # the completed copies of the table the next M-step trains on [k, n, D]
    previous: np.ndarray  # the last E-step's mean over the rows with missing cells
    weights: dict  # the denoiser's state dict
    generator: torch.Tensor  # the torch generator's state
    history: History


def fingerprint(X: np.ndarray, M: np.ndarray, settings, **run) -> str:
    """SHA-256 of what determines a fit: the encoded data, its mask, the settings and the
    run's other arguments (seed, draws kept)."""
    h = hashlib.sha256()
    for array in (np.ascontiguousarray(X), np.ascontiguousarray(M)):
        h.update(f"{array.dtype}{array.shape}".encode())
        h.update(array.tobytes())
    described = json.dumps({"settings": asdict(settings), **run}, sort_keys=True, default=str)
    h.update(described.encode())
    return h.hexdigest()


class Checkpointer:
    """Reads and writes the EM state of one fit in ``directory``."""

    def __init__(self, directory, fit_id: str):
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self.fit_id = fit_id

    def save(self, state: EMState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "fit_id": self.fit_id,
            "iteration": state.iteration,
            "tables": torch.from_numpy(np.ascontiguousarray(state.tables)),
            "previous": torch.from_numpy(np.ascontiguousarray(state.previous)),
            "weights": {k: v.detach().cpu() for k, v in state.weights.items()},
            "generator": state.generator.cpu(),
            "history": json.dumps(state.history.to_dict()),
        }
        atomic_write(self.path, lambda tmp: torch.save(payload, tmp))

    def load(self, variables: list) -> EMState | None:
        """The saved state, or None when there is none."""
        if not self.path.exists():
            return None
        try:
            payload = load_tensors(self.path)
            fit_id = payload["fit_id"]
        except Exception as err:  # noqa: BLE001 - an unreadable file is a bad checkpoint
            raise CheckpointError(f"{self.path} is not a readable checkpoint ({err}); "
                                  "remove it to start over.") from None
        if fit_id != self.fit_id:
            raise CheckpointError(
                f"{self.path} is the checkpoint of another fit (other data, settings or seed); "
                "remove it or choose another checkpoint_dir."
            )
        return EMState(
            iteration=int(payload["iteration"]),
            tables=payload["tables"].numpy(),
            previous=payload["previous"].numpy(),
            weights=payload["weights"],
            generator=payload["generator"],
            history=History.from_dict(json.loads(payload["history"]), variables),
        )

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
