"""tqdm progress bars over EM iterations and training epochs."""

from __future__ import annotations

import math

from tqdm.auto import tqdm

from .em import held_out_rows, passes_per_epoch


class ProgressBars:
    """An outer bar over EM iterations and an inner one over the current M-step's epochs."""

    def __init__(self, n_iter: int, epochs: int):
        self.em = tqdm(total=n_iter, desc="EM", unit="iter")
        self.epochs = epochs
        self.train = None

    @classmethod
    def for_fit(cls, settings, n_rows: int, has_missing: bool) -> "ProgressBars":
        """Bars sized for a fit: EM iterations, and epochs as capped by ``max_steps``."""
        n_rows -= held_out_rows(n_rows, settings.validation_fraction)
        batch_size = min(settings.batch_size, n_rows)
        batches = math.ceil(n_rows / batch_size)
        batches *= passes_per_epoch(batches * batch_size, settings.epoch_rows)
        epochs = settings.epochs
        if settings.max_steps is not None:
            epochs = min(epochs, math.ceil(settings.max_steps / batches))
        return cls(settings.max_iter if has_missing else 1, epochs)

    def iteration(self, k: int) -> None:
        if self.train is not None:
            self.train.close()
            self.em.update(1)
        self.train = tqdm(total=self.epochs, desc=f"M-step {k + 1}", unit="epoch", leave=False)

    def epoch(self, loss: float) -> None:
        self.train.update(1)
        self.train.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def close(self) -> None:
        if self.train is not None:
            self.train.close()
            self.em.update(1)
        self.em.close()
