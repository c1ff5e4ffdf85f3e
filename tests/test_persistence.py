import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from diffputer import DiffPuter, ModelFileError


@pytest.fixture
def fitted(mixed_df, tiny):
    return DiffPuter(**tiny).fit(mixed_df)


def test_save_load_round_trip_gives_the_same_imputations(fitted, mixed_df, tmp_path):
    path = tmp_path / "model.pt"
    fitted.save(path)
    loaded = DiffPuter.load(path)
    pd.testing.assert_frame_equal(loaded.transform(mixed_df), fitted.transform(mixed_df))
    assert loaded.get_params() == {**fitted.get_params(), "callback": None}
    assert loaded.settings_ == fitted.settings_
    np.testing.assert_array_equal(loaded.history_.chain_mean, fitted.history_.chain_mean)
    assert loaded.history_.losses == fitted.history_.losses
    assert loaded.history_.held_out_losses == fitted.history_.held_out_losses
    assert loaded.history_.corrector_checks == fitted.history_.corrector_checks
    assert fitted.history_.held_out_losses[0]  # the first M-step holds rows out
    assert list(loaded.feature_names_in_) == list(mixed_df.columns)


def test_files_from_before_the_moments_load_and_impute_with_clean_inputs(fitted, mixed_df,
                                                                         tmp_path):
    """A file without the denoiser's data moments (written before they were kept) loads; its
    corrector then feeds the observed entries as they are. A missing weight is still refused."""
    from diffputer.em import trained_moments
    from diffputer.persistence import digest

    path = tmp_path / "model.pt"
    fitted.save(path)
    payload = torch.load(path, weights_only=True)
    assert trained_moments(fitted.denoiser_) is not None
    for dropped in (("data_mean", "data_cov"), ("net.proj.weight",)):
        weights = {k: v for k, v in payload["weights"].items() if k not in dropped}
        torch.save(dict(payload, weights=weights, sha256=digest(payload["metadata"], weights)),
                   path)
        if dropped[0] == "data_mean":
            loaded = DiffPuter.load(path)
            assert trained_moments(loaded.denoiser_) is None
            completed = loaded.transform(mixed_df)
            observed = mixed_df.notna()
            pd.testing.assert_frame_equal(completed[observed], mixed_df[observed])
            assert completed.notna().all().all()
        else:
            with pytest.raises(ModelFileError, match="inconsistent"):
                DiffPuter.load(path)


def test_save_leaves_no_temporary_files(fitted, tmp_path):
    fitted.save(tmp_path / "model.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_loading_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"this is not a model")
    with pytest.raises(ModelFileError, match="not a readable diffputer model file"):
        DiffPuter.load(path)


def test_truncated_file_is_a_clear_error(fitted, tmp_path):
    path = tmp_path / "model.pt"
    fitted.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        DiffPuter.load(path)


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_loading_never_executes_pickled_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "diffputer-model", "payload": _Boom()}, f)
    with pytest.raises(ModelFileError):
        DiffPuter.load(path)
    torch.save({"format": "diffputer-model", "version": 2, "metadata": _Boom()}, path)
    with pytest.raises(ModelFileError):
        DiffPuter.load(path)
    assert not (tmp_path / "PWNED").exists()


def test_wrong_version_and_wrong_format_are_named(fitted, tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"format": "diffputer-model", "version": 99, "metadata": "{}", "weights": {}}, path)
    with pytest.raises(ModelFileError, match="format version 99"):
        DiffPuter.load(path)
    torch.save({"something": "else"}, path)
    with pytest.raises(ModelFileError, match="not a diffputer model file"):
        DiffPuter.load(path)


def test_tampered_metadata_or_weights_are_refused(fitted, tmp_path):
    from diffputer.persistence import digest

    path = tmp_path / "model.pt"
    fitted.save(path)
    original = torch.load(path, weights_only=True)
    edited = dict(original, metadata=original["metadata"].replace('"width": 32', '"width": 64'))
    torch.save(edited, path)
    with pytest.raises(ModelFileError, match="digest does not match"):
        DiffPuter.load(path)
    edited["sha256"] = digest(edited["metadata"], edited["weights"])  # a consistent forgery
    torch.save(edited, path)
    with pytest.raises(ModelFileError, match="inconsistent"):
        DiffPuter.load(path)
    weights = {k: v.clone() for k, v in original["weights"].items()}
    next(iter(weights.values())).view(-1)[0] += 1.0
    torch.save(dict(original, weights=weights), path)
    with pytest.raises(ModelFileError, match="digest does not match"):
        DiffPuter.load(path)


def test_mutated_files_load_unchanged_or_are_refused(fitted, mixed_df, tmp_path):
    """Fuzz: flipped bytes, truncations and insertions anywhere in a saved model."""
    path = tmp_path / "model.pt"
    fitted.save(path)
    data, expected = path.read_bytes(), fitted.transform(mixed_df)
    rng = np.random.default_rng(0)
    refused = 0
    for trial in range(150):
        mutated, at = bytearray(data), int(rng.integers(len(data)))
        if trial % 3 == 0:
            for i in rng.integers(len(data), size=int(rng.integers(1, 4))):
                mutated[i] ^= int(rng.integers(1, 256))
        elif trial % 3 == 1:
            del mutated[at:]
        else:
            mutated[at:at] = rng.bytes(int(rng.integers(1, 16)))
        path.write_bytes(bytes(mutated))
        try:
            loaded = DiffPuter.load(path)
        except ModelFileError:
            refused += 1
            continue
        # a mutation the format does not read (zip padding, say) must change nothing
        pd.testing.assert_frame_equal(loaded.transform(mixed_df), expected)
    assert refused > 100


def test_saving_an_unfitted_model_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiffPuter().save(tmp_path / "m.pt")
