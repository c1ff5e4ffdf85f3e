"""Saving and loading fitted models: tensors plus JSON metadata, never pickled objects.

The file is a ``torch.save`` archive of a plain dict: ``format``, ``version``, ``metadata``
(a JSON string), ``weights`` (a state dict of tensors) and ``sha256`` (a digest of the metadata
and weights). Loading uses ``torch.load(weights_only=True)``, which refuses anything but tensors
and primitive containers, checks the digest (a corrupted or altered file is refused, not
loaded with other weights), and then checks every field before building the model.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from ._files import atomic_write, load_tensors
from .diffusion import MOMENT_BUFFERS
from .training import new_denoiser
from .encoding import TableEncoder
from .history import History
from .settings import Settings

FORMAT = "diffputer-model"
VERSION = 2  # 2: the sha256 digest


class ModelFileError(ValueError):
    """A model file that is not a valid diffputer model."""


def digest(metadata: str, weights: dict) -> str:
    """SHA-256 of the metadata text and of every weight's name, dtype, shape and bytes."""
    h = hashlib.sha256(metadata.encode("utf-8"))
    for name in sorted(weights):
        tensor = weights[name].detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode("utf-8"))
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_model(model, path) -> None:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "denoiser_")
    # A loaded model imputes in the process that loads it, whatever group fitted it.
    params = {k: v for k, v in model.get_params().items()
              if k not in ("callback", "distributed")}
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
    weights = {k: v.detach().cpu() for k, v in model.denoiser_.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "metadata": text, "weights": weights,
               "sha256": digest(text, weights)}
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def _read_payload(path) -> dict:
    try:
        payload = load_tensors(path)
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
    metadata, weights = payload.get("metadata"), payload.get("weights")
    if (not isinstance(metadata, str) or not isinstance(weights, dict)
            or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                       for k, v in weights.items())):
        raise ModelFileError(f"{path} holds an inconsistent diffputer model (bad fields).")
    if payload.get("sha256") != digest(metadata, weights):
        raise ModelFileError(f"{path} is corrupted or was altered: its SHA-256 digest does not "
                             "match its contents.")
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
        weights = dict(payload["weights"])
        for name in MOMENT_BUFFERS:  # files written before the moments were kept: none
            weights.setdefault(name, denoiser.state_dict()[name])
        denoiser.load_state_dict(weights)
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
