"""Saving and loading fitted models: tensors plus JSON metadata, never pickled objects.

The file is a ``torch.save`` archive of a plain dict: ``format``, ``version``, ``metadata``
(a JSON string) and ``weights`` (a state dict of tensors). Loading uses
``torch.load(weights_only=True)``, which refuses anything but tensors and primitive
containers, and then checks every field before building the model.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .em import new_denoiser
from .encoding import TableEncoder
from .history import History
from .settings import Settings

FORMAT = "diffputer-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that is not a valid diffputer model."""


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


def save_model(model, path) -> None:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "denoiser_")
    params = {k: v for k, v in model.get_params().items() if k != "callback"}
    metadata = {
        "params": params,
        "settings": model.settings_.to_dict(),
        "encoder": model.encoder_.to_dict(),
        "history": model.history_.to_dict(),
        "n_features_in": model.n_features_in_,
        "feature_names_in": None if not hasattr(model, "feature_names_in_")
        else list(model.feature_names_in_),
        "torch_version": torch.__version__,
    }
    try:
        text = json.dumps(metadata)
    except TypeError as err:
        raise TypeError(f"The model's metadata cannot be written as JSON: {err}.") from None
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "metadata": text,
        "weights": {k: v.detach().cpu() for k, v in model.denoiser_.state_dict().items()},
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def _read_payload(path) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on foreign pickle protocols
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to parse means a bad file
        raise ModelFileError(f"{path} is not a readable diffputer model file ({err}).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a diffputer model file.")
    if payload.get("version") != VERSION:
        raise ModelFileError(
            f"{path} has model format version {payload.get('version')!r}; this diffputer "
            f"reads version {VERSION}."
        )
    return payload


def load_model(path):
    from .estimator import DiffPuter, resolve_device

    payload = _read_payload(path)
    try:
        meta = json.loads(payload["metadata"])
        params = dict(meta["params"])
        model = DiffPuter(**params)
        settings = Settings(**meta["settings"]).validated()
        encoder = TableEncoder.from_dict(meta["encoder"])
        denoiser = new_denoiser(encoder.n_features, settings.width, 0, "cpu")
        denoiser.load_state_dict(payload["weights"])
        history = History.from_dict(meta["history"], encoder.columns)
        n_features_in = int(meta["n_features_in"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise ModelFileError(f"{path} holds an inconsistent diffputer model ({err}).") from None
    try:
        device = resolve_device(model.device)
    except ValueError:  # saved on a GPU, loaded where there is none
        device = torch.device("cpu")
    denoiser.to(device).eval()
    model.settings_ = settings
    model.encoder_ = encoder
    model.denoiser_ = denoiser
    model.history_ = history
    model.device_ = device
    model.n_features_in_ = n_features_in
    if meta.get("feature_names_in") is not None:
        model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    return model
