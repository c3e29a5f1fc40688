from __future__ import annotations

from pathlib import Path

import pytest

from unlearn.config import RunConfig, load_config, parse_override
from unlearn.core.errors import ConfigError


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: 0.001\n  epochs: 3\nmethod:\n  name: NPO_GDR\n")
    cfg = load_config(path, ["train.lr=1e-4", "method.params.npo.beta=0.2", "eval.splits=forget,retain",
                             "model.trust_remote_code=true"])
    assert isinstance(cfg, RunConfig)
    assert cfg.train.lr == pytest.approx(1e-4) and cfg.train.epochs == 3.0
    assert cfg.method.name == "NPO_GDR" and cfg.method.params == {"npo": {"beta": 0.2}}
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


def test_method_params_and_weights_nest_by_term_key(tmp_path):
    cfg = load_config(overrides=["method.params.npo.beta=0.2"])
    assert cfg.method.params == {"npo": {"beta": 0.2}}
    cfg = load_config(overrides=["method.name=NPO+GRU", "method.params.npo.beta=5e-2", "method.params.gru.gamma=0.9",
                                 "method.weights.gdr=2"])
    assert cfg.method.params == {"npo": {"beta": 0.05}, "gru": {"gamma": 0.9}}
    assert cfg.method.weights == {"gdr": 2}
    # the YAML file and an override merge key by key
    path = tmp_path / "run.yaml"
    path.write_text("method:\n  name: NPO_KLR\n  params:\n    npo: {beta: 0.3}\n")
    cfg = load_config(path, ["method.params.gru.gamma=0.7"])
    assert cfg.method.params == {"npo": {"beta": 0.3}, "gru": {"gamma": 0.7}}
    cfg = load_config(path, ["method.params.npo.beta=0.4"])
    assert cfg.method.params == {"npo": {"beta": 0.4}}


TEMPLATE = "Question: {question}\nAnswer: "  # a real newline, and a trailing space


def test_template_override_as_a_shell_passes_it():
    # `unlearn ... 'data.template=Question: {question}\nAnswer: '`: the shell hands over a backslash
    # and an n (two characters), and the trailing space
    typed = "data.template=Question: {question}" + "\\" + "nAnswer: "
    assert "\n" not in typed and "\\n" in typed  # backslash-n as two characters, no newline yet
    cfg = load_config(overrides=[typed])
    assert cfg.data.template == TEMPLATE
    assert cfg.data.template.endswith("Answer: ") and "\n" in cfg.data.template
    # double-quoted YAML in the override: YAML's own escapes, trailing space kept
    cfg = load_config(overrides=['data.template="Question: {question}' + "\\" + 'nAnswer: "'])
    assert cfg.data.template == TEMPLATE


def test_template_as_double_quoted_yaml_in_a_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text('data:\n  template: "Question: {question}' + "\\" + 'nAnswer: "\n')
    assert load_config(path).data.template == TEMPLATE


def test_lora_section():
    cfg = load_config(overrides=["lora.r=8"])
    assert cfg.lora.r == 8 and isinstance(cfg.lora.r, int)
    assert cfg.lora.alpha == 32.0 and cfg.lora.dropout == 0.05  # untouched defaults
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["lora.rank=8"])
    msg = str(err.value)
    assert "lora.rank" in msg
    for key in ("r", "alpha", "dropout", "target_modules", "save"):
        assert key in msg.split("valid keys here:")[1]


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_load_and_build(name):
    from unlearn.methods import build_method

    cfg = load_config(CONFIGS / name)
    build_method(cfg.method)  # params are namespaced by term key and pass the method's checks


def test_npo_gdr_config_uses_namespaced_params():
    from unlearn.methods import build_method

    cfg = load_config(CONFIGS / "unlearn_npo_gdr.yaml")
    assert cfg.method.params == {"npo": {"beta": 0.1}}
    assert [t.key for t in build_method(cfg.method).terms] == ["npo", "gdr"]
    # the README's variant: the same file with method.name=NPO_KLR
    cfg = load_config(CONFIGS / "unlearn_npo_gdr.yaml", ["method.name=NPO_KLR"])
    assert [t.key for t in build_method(cfg.method).terms] == ["npo", "klr"]


def test_a_braced_template_on_the_command_line_stays_text():
    """YAML reads `{question}` as the mapping {question: null}; on a key.sub=value line it is a template."""
    cfg = load_config(overrides=["data.template={question}", "data.columns={question: prompt}"])
    assert cfg.data.template == "{question}"
    assert cfg.data.columns == {"question": "prompt"}  # a mapping with values stays a mapping


def test_set_values_ignores_options_a_newer_version_adds_unset():
    from unlearn.config import EvalConfig, set_values

    older = {"batch_size": 32, "judge_model": None, "suites": ["tofu"], "nested": {"a": None, "b": 1}}
    assert set_values(older) == {"batch_size": 32, "suites": ["tofu"], "nested": {"b": 1}}
    current = set_values(EvalConfig())
    assert "batch_tokens" not in current and current["batch_size"] == 32  # unset: left out, so old results match
