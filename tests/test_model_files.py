"""What is checked of a model folder before anything is loaded (unlearn.models.loading.check_model_files)."""

from __future__ import annotations

import json
import shutil

import pytest

from unlearn.config import ModelConfig
from unlearn.core.errors import ModelLoadError
from unlearn.models.loading import check_model_files, load_model


def test_auto_map_of_an_architecture_transformers_knows_needs_no_remote_code(target_model, tmp_path):
    """Many hub models (Phi-3, Falcon, ...) list code in auto_map but have a class in transformers: they
    load without running shipped code, so they are not refused."""
    folder = tmp_path / "native"
    shutil.copytree(target_model, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_llama_custom.LlamaForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    check_model_files(ModelConfig(path=str(folder)))
    assert type(load_model(ModelConfig(path=str(folder)))).__name__ == "LlamaForCausalLM"
    config["model_type"] = "somebody_elses_llama"  # no class of its own: its code would have to run
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="ships its own code .*model.trust_remote_code=true"):
        check_model_files(ModelConfig(path=str(folder)))


def test_a_gguf_file_must_be_in_the_folder(target_model):
    with pytest.raises(ModelLoadError, match=r"model.gguf_file 'nope.gguf' is not in"):
        check_model_files(ModelConfig(path=str(target_model), gguf_file="nope.gguf"))
