"""tqdm progress bars over EM iterations and training epochs."""

from __future__ import annotations

from tqdm.auto import tqdm


class ProgressBars:
    """An outer bar over EM iterations and an inner one over the current M-step's epochs."""

    def __init__(self, n_iter: int):
        self.em = tqdm(total=n_iter, desc="EM", unit="iter")
        self.train = None

    def iteration(self, k: int, epochs: int) -> None:
        """Start M-step ``k`` (from 0), which runs at most ``epochs`` epochs."""
        if self.train is not None:
            self.train.close()
            self.em.update(1)
        self.train = tqdm(total=epochs, desc=f"M-step {k + 1}", unit="epoch", leave=False)

    def epoch(self, loss: float) -> None:
        self.train.update(1)
        self.train.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def close(self) -> None:
        if self.train is not None:
            self.train.close()
            self.em.update(1)
        self.em.close()
