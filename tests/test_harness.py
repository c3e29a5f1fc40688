"""The lm-evaluation-harness extra on a local task file (no network), and its one-line error."""

from __future__ import annotations

import json

import pytest

from unlearn.core.errors import DataError

pytest.importorskip("lm_eval")  # an optional extra; the test extra installs it


def _local_task(tmp_path):
    rows = [{"question": f"What is {a} plus {b}?", "choices": [str(a + b), str(a + b + 1), str(a * b + 7)],
             "answer": 0} for a, b in ((1, 2), (2, 3), (3, 4), (4, 5))]
    data = tmp_path / "mc.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "local_mc.yaml").write_text(
        "task: local_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data}\ntest_split: test\noutput_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_choice: "{{choices}}"\n'
        "doc_to_target: \"{{answer}}\"\nmetric_list:\n  - metric: acc\n")
    return tmp_path / "tasks"


@pytest.mark.slow  # about 25 s, most of it importing lm_eval; CI runs it with the slow tests
def test_harness_runs_a_local_task_on_the_model_object(target_model, tmp_path):
    from unlearn.config import load_config
    from unlearn.eval.harness import run_harness
    from unlearn.models import load_model, load_tokenizer

    cfg = load_config(overrides=[f"model.path={target_model}"])
    model, tok = load_model(cfg.model), load_tokenizer(cfg.model)
    values = run_harness(model, tok, ["local_mc"], include=str(_local_task(tmp_path)), batch_size=4)
    acc, direction = values["harness_local_mc_acc"]
    assert acc in (0.0, 0.25, 0.5, 0.75, 1.0) and direction.higher_is_better()
    with pytest.raises(DataError, match="lm-evaluation-harness tasks \\['no_such_task'\\]"):
        run_harness(model, tok, ["no_such_task"], include=str(tmp_path / "tasks"))
