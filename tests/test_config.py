from __future__ import annotations

import pytest

from unlearn.config import RunConfig, load_config, parse_override
from unlearn.errors import ConfigError


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: 0.001\n  epochs: 3\nmethod:\n  name: GA_GDR\n")
    cfg = load_config(path, ["train.lr=1e-4", "method.params.beta=0.2", "eval.splits=forget,retain",
                             "model.trust_remote_code=true"])
    assert isinstance(cfg, RunConfig)
    assert cfg.train.lr == pytest.approx(1e-4) and cfg.train.epochs == 3.0
    assert cfg.method.name == "GA_GDR" and cfg.method.params == {"beta": 0.2}
    assert cfg.eval.splits == ["forget", "retain"]
    assert cfg.model.trust_remote_code is True
    assert cfg.train.batch_size == 8  # untouched default


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["train.learning_rate=1"])
    assert "train.learning_rate" in str(err.value) and "lr" in str(err.value) and "epochs" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["trian.lr=1"])
    assert "'trian'" in str(err.value) and "train" in str(err.value)


@pytest.mark.parametrize("override, fragment", [
    ("train.lr=fast", "must be a number"),
    ("train.batch_size=2.5", "must be an integer"),
    ("model.trust_remote_code=maybe", "true or false"),
    ("train.lr", "key.sub=value"),
])
def test_bad_values_are_config_errors(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(overrides=[override])


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_parse_override_types():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=1e-5") == (["a"], 1e-5)
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=hello") == (["a"], "hello")
