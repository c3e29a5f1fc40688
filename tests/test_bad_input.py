"""The bad-input corpus: inputs a user can get wrong (data files, configs, models, run folders, the
command line), each run through the real CLI entry point (`unlearn.cli.main`, in-process so the corpus
stays fast) and each required to end in a non-zero exit with ONE line on stderr that names the problem
and the fix, no traceback, or in the documented warning. Cases marked `early` must fail before any
model is loaded (a spy counts `from_pretrained` calls). New features add their cases here.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest


@dataclass
class Case:
    args: list[str]
    fragments: tuple[str, ...]
    setup: Callable[[Path], object] | None = None
    """Makes the case's files in its folder; may return an undo, run after the case."""
    early: bool = True
    """Fails before any model is loaded."""
    warning: bool = False
    """Exit 0 with the documented `unlearn: warning:` line instead of an error."""
    extra: list[str] = field(default_factory=list)


CASES: dict[str, Case] = {}


def case(name: str, args: list[str], *fragments: str, **kw) -> None:
    assert name not in CASES, name
    CASES[name] = Case(list(args), fragments, **kw)


# Arguments with placeholders: @world (a good world), @bad (a copy of it that `setup` may break),
# @target (a small trained model), @tmp (this case's folder). Overrides later on the line win.
RUN = ["unlearn", "model.path=@target", "data.path=@bad", "out=@tmp/run", "method.name=GA", "train.max_steps=1",
       "train.batch_size=4", "eval.enabled=false"]
EVAL = ["eval", "@target", "--data", "@bad", "--out", "@tmp/eval", "eval.max_new_tokens=4", "eval.batch_size=64"]


def _json(name: str, change: Callable[[list], object]) -> Callable[[Path], None]:
    """A setup that rewrites @bad/NAME.json with `change(rows)` (in place, or returning the new content)."""
    def setup(tmp: Path) -> None:
        path = tmp / "bad" / f"{name}.json"
        rows = json.loads(path.read_text())
        new = change(rows)
        path.write_text(json.dumps(rows if new is None else new))
    return setup


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / "bad" / name).write_bytes(data)
    return setup


def _file(name: str, text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    return setup


def _set(row: int, key: str, value: object) -> Callable[[list], None]:
    def change(rows: list) -> None:
        rows[row][key] = value
    return change


def _drop(row: int, key: str) -> Callable[[list], None]:
    def change(rows: list) -> None:
        del rows[row][key]
    return change


# -- data files -------------------------------------------------------------------------------------
case("answer-is-a-number", RUN, "forget10.json: row 1 field 'answer'", "is a number (42), not text",
     'write it as a string, e.g. "42"', setup=_json("forget10", _set(1, "answer", 42)))
case("answer-is-a-list", RUN, "forget10.json: row 2 field 'answer'", "is a list", "not text",
     "perturbed_answer is the field that takes a list", setup=_json("forget10", _set(2, "answer", ["a", "b"])))
case("answer-is-true", RUN, "row 0 field 'answer'", "is true/false (True)", setup=_json("forget10", _set(0, "answer", True)))
case("question-is-an-object", RUN, "row 3 field 'question'", "is an object",
     setup=_json("forget10", _set(3, "question", {"q": 1})))
case("retain-answer-is-a-number", RUN + ["method.name=GA_GDR"], "retain90.json: row 5 field 'answer'", "is a number",
     setup=_json("retain90", _set(5, "answer", 1984)))
case("perturbed-answer-holds-a-number", EVAL, "forget10.json: row 0 field 'perturbed_answer' (column "
     "'perturbed_answer') item 1 is a number (7)", setup=_json("forget10", _set(0, "perturbed_answer", ["a", 7, "b"])))
case("perturbed-answer-holds-a-list", EVAL, "row 2 field 'perturbed_answer'", "item 0 is a list",
     setup=_json("forget10", _set(2, "perturbed_answer", [["a"], "b", "c"])))
case("retain-row-without-paraphrase", EVAL, "retain_perturbed.json: row 3 has no paraphrased_answer but row 0 has one",
     "give every record of the set a paraphrased_answer", setup=_json("retain_perturbed", _drop(3, "paraphrased_answer")))
case("forget-row-without-paraphrase", EVAL, "forget10.json: row 5 has no paraphrased_answer but row 0 has one",
     setup=_json("forget10", _drop(5, "paraphrased_answer")))
case("perturbed-answer-is-a-number", EVAL, "row 1 field 'perturbed_answer'", "item 0 is a number (5)",
     setup=_json("forget10", _set(1, "perturbed_answer", 5)))
case("paraphrase-is-a-list", EVAL, "row 4 field 'paraphrased_answer'", "is a list",
     setup=_json("forget10", _set(4, "paraphrased_answer", ["x"])))
case("answer-is-empty", RUN, "forget10.json: row 1 field 'answer' (column 'answer') is empty",
     setup=_json("forget10", _set(1, "answer", "  ")))
case("answer-is-null", RUN, "forget10.json: row 6 field 'answer' (column 'answer') is empty",
     setup=_json("forget10", _set(6, "answer", None)))
case("answer-field-missing", RUN, "forget10.json: row 1 has no column 'answer'",
     setup=_json("forget10", lambda rows: rows[1].__delitem__("answer")))
case("not-utf8", RUN, "forget10.json: not UTF-8 text (byte 0xff at offset 22, line 1)", "re-save the file as UTF-8",
     setup=_bytes("forget10.json", b'[{"question": "Who is \xff?", "answer": "x"}]'))
case("empty-file", RUN, "forget10.json has no records (the file is empty)", "put at least one record in it",
     setup=_bytes("forget10.json", b""))
case("empty-json-array", RUN, "forget10.json has no records", setup=_bytes("forget10.json", b"[]"))
case("top-level-object", RUN, "forget10.json: the top level is a JSON object, not a list of records",
     "its key 'data' holds a list: write that list alone",
     setup=lambda tmp: (tmp / "bad" / "forget10.json").write_text(json.dumps({"data": [{"question": "q"}]}, indent=1)))
case("top-level-object-one-line", RUN, "forget10.json: the top level is a JSON object, not a list of records",
     setup=_json("forget10", lambda rows: {"data": rows}))
case("truncated-json", RUN, "forget10.json: not valid JSON", "fix the file",
     setup=_bytes("forget10.json", b'[{"question": "q", "answer": '))
case("jsonl-bad-line", RUN, "retain90.json: line 2 is not valid JSON", "one record a line", extra=["method.name=GA_GDR"], setup=_bytes("retain90.json", b'{"question": "q", "answer": "a"}\n{"question": \n'))
case("record-is-a-number", RUN, "forget10.json: record 1 is a number (3), not an object",
     setup=_bytes("forget10.json", b'[{"question": "q", "answer": "a"}, 3]'))
case("file-is-a-folder", RUN + ["data.augmented=@bad", "method.name=ReLearn"], "is a folder; name a file")
case("augmented-missing", RUN + ["data.augmented=@tmp/nope.jsonl", "method.name=ReLearn"], "data.augmented",
     "nope.jsonl", "does not exist")
case("augmented-answer-is-a-number", RUN + ["data.augmented=@tmp/aug.jsonl", "method.name=ReLearn"],
     "aug.jsonl: record 1 field 'answer' is a number (5), not text",
     setup=_file("aug.jsonl", '{"question": "q", "answer": "a"}\n{"question": "q2", "answer": 5}\n'))
case("refusals-not-utf8", RUN + ["data.refusals=@tmp/idk.txt", "method.name=IDK"], "idk.txt: not UTF-8 text",
     setup=lambda tmp: (tmp / "idk.txt").write_bytes(b"I don't know.\n\xe9\n"))
case("refusals-empty", RUN + ["data.refusals=@tmp/idk.txt", "method.name=IDK"], "idk.txt", "is empty",
     setup=_file("idk.txt", "\n\n"))
case("alternatives-for-other-questions", RUN + ["data.alternatives=@tmp/alt.jsonl", "method.name=IdkDPO"],
     "alt.jsonl has an alternative for none of the", "unlearn augment --kind alternatives",
     setup=_file("alt.jsonl", '{"question": "Who?", "answer": "No idea."}\n'))
case("forget-copied-into-retain", RUN + ["method.name=GA_GDR", "data.overlap=error"],
     "10 of 10 forget questions are also in the retain data (split retain90", "trains them back in",
     "data.overlap=warn", setup=lambda tmp: shutil.copy(tmp / "bad" / "forget10.json", tmp / "bad" / "retain90.json"))
case("forget-copied-into-retain-warns", RUN + ["method.name=GA_GDR"],
     "10 of 10 forget questions are also in the retain data", "they were kept in both", "data.overlap=ignore",
     warning=True, setup=lambda tmp: shutil.copy(tmp / "bad" / "forget10.json", tmp / "bad" / "retain90.json"))
case("repeated-rows", RUN + ["data.overlap=error"], "3 of 13 rows of the forget data (split forget10) repeat an earlier",
     setup=_json("forget10", lambda rows: rows + rows[:3]))
case("answer-of-10000-words-warns", RUN, "1 of 10 samples of the forget data are longer than",
     "they were cut from the answer's end, or a prompt too long alone from its start (longest:", warning=True,
     setup=_json("forget10", _set(0, "answer", " ".join(["word"] * 10_000))))
case("generation-past-the-context-warns", EVAL + ["--splits", "forget[:2]", "--metrics", "rougeL_recall",
                                           "eval.max_new_tokens=250", "--suite", ""],
     "2 of 2 generation prompts of the evaluation sets plus eval.max_new_tokens=250 run past the model's context "
     "of 256 positions", "lower eval.max_new_tokens", warning=True)
case("empty-forget-set-evaluated", EVAL, "forget10.json has no records", setup=_bytes("forget10.json", b"[]"))
case("slice-selects-nothing", EVAL + ["--splits", "forget[20:]"], "selects no rows", "widen the slice")
case("malformed-slice", EVAL + ["--splits", "forget[a:b]"], "malformed split 'forget[a:b]'", "NAME[START:END]")
case("unknown-evaluation-set", EVAL + ["--splits", "forgot"], "unknown evaluation set 'forgot'", "available:")
case("custom-without-retain", RUN + ["data.benchmark=custom"], "has no retain file", "add retain.jsonl",
     setup=lambda tmp: (shutil.rmtree(tmp / "bad"), _file("bad/forget.jsonl", '{"question": "q", "answer": "a"}\n')(tmp)))
case("custom-csv-without-columns", RUN + ["data.benchmark=custom"], "forget.csv: row 0 has neither question/answer",
     "data.columns.question=",
     setup=lambda tmp: (shutil.rmtree(tmp / "bad"), _file("bad/forget.csv", "prompt,response\nq,a\n")(tmp),
                        _file("bad/retain.csv", "prompt,response\nq2,a2\n")(tmp)))
case("harm-without-normal-file", RUN + ["data.benchmark=harm"], "has no normal file", "add normal.csv",
     setup=lambda tmp: (shutil.rmtree(tmp / "bad"), _file("bad/forget.csv", "prompt,response\nq,a\n")(tmp)))
case("harm-csv-with-other-columns", RUN + ["data.benchmark=harm"], "forget.csv: row 0", "data.columns.question=",
     setup=lambda tmp: (shutil.rmtree(tmp / "bad"), _file("bad/forget.csv", "goal,target\nq,a\n")(tmp),
                        _file("bad/normal.csv", "prompt,response\nq2,a2\n")(tmp)))
COMPLETIONS = ["completions", "--forget", "@tmp/book.txt", "--retain", "@tmp/other.txt", "--tokenizer", "@target",
               "--out", "@tmp/cut"]
case("completions-forget-missing", COMPLETIONS, "--forget '", "book.txt' does not exist", "give a .txt file")
case("completions-prefix-zero", COMPLETIONS + ["--prefix-tokens", "0"], "--prefix-tokens must be a positive whole number")
case("completions-out-holds-other-files", COMPLETIONS, "--out '", "cut' already holds other files",
     "give a new or empty folder", setup=lambda tmp: (_file("book.txt", "A text.")(tmp), _file("other.txt", "B.")(tmp),
                                                     _file("cut/notes.md", "mine")(tmp)))
case("completions-texts-too-short", COMPLETIONS, "the forget documents give no prefix/continuation pair of 200 + 200",
     "lower --prefix-tokens", setup=lambda tmp: (_file("book.txt", "A short text.")(tmp),
                                                 _file("other.txt", "Another short one.")(tmp)))
case("completion-folder-not-cut", RUN + ["data.benchmark=completion"], "has no retain file",
     "unlearn completions", setup=lambda tmp: (shutil.rmtree(tmp / "bad"), _file("bad/forget.txt", "Some text.")(tmp)))
case("corrupt-parquet", RUN + ["data.benchmark=custom"], "forget.parquet: cannot be read as parquet",
     setup=lambda tmp: (shutil.rmtree(tmp / "bad"), (tmp / "bad").mkdir(),
                        (tmp / "bad" / "forget.parquet").write_bytes(b"PAR1 not really"),
                        _file("bad/retain.jsonl", '{"question": "q", "answer": "a"}\n')(tmp)))

case("eval-data-checked-before-training", RUN + ["eval.enabled=true"], "retain_perturbed.json: row 2 field "
     "'perturbed_answer'", "item 0 is a number", setup=_json("retain_perturbed", _set(2, "perturbed_answer", [1, "b", "c"])))
case("eval-set-checked-before-training", RUN + ["eval.enabled=true", "eval.splits=forgot"],
     "unknown evaluation set 'forgot'")
case("eval-suite-checked-before-training", ["finetune", *RUN[1:], "eval.enabled=true", "eval.suites=tofu,vibes"],
     "unknown suite 'vibes'")

# -- configs ----------------------------------------------------------------------------------------
case("unknown-key", RUN + ["train.learnrate=1e-4"], "unknown config key 'train.learnrate'", "lr")
case("lr-zero", RUN + ["train.lr=0"], "train.lr must be above 0 (got 0.0)", "nothing is learnt")
case("lr-negative", RUN + ["train.lr=-1e-4"], "train.lr must be above 0", "trains backwards")
case("lr-not-a-number", RUN + ["train.lr=fast"], "train.lr must be a number, got 'fast'")
case("epochs-zero", RUN + ["train.epochs=0"], "train.epochs must be above 0 (got 0.0)")
case("epochs-infinite", RUN + ["train.epochs=inf"], "train.epochs must be a finite number, got 'inf'")
case("grad-norm-zero", RUN + ["train.max_grad_norm=0"], "train.max_grad_norm must be above 0", "null turns clipping off")
case("batch-size-zero", RUN + ["train.batch_size=0"], "train.batch_size must be at least 1 (got 0)")
case("eval-batch-size-zero", RUN + ["eval.enabled=true", "eval.batch_size=0"], "eval.batch_size must be at least 1")
case("max-new-tokens-zero", EVAL + ["eval.max_new_tokens=0"], "eval.max_new_tokens must be at least 1")
case("max-length-one", RUN + ["data.max_length=1"], "data.max_length must be at least 2 (got 1)",
     "a prompt token and a target token")
case("warmup-ratio-two", RUN + ["train.warmup_ratio=2"], "train.warmup_ratio must be in [0, 1) (got 2.0)")
case("seed-negative", RUN + ["train.seed=-1"], "train.seed must be at least 0")
case("npo-beta-zero", RUN + ["method.name=NPO", "method.params.npo.beta=0"], "method.params.npo.beta must be above 0",
     "NPO divides by beta")
case("npo-beta-negative", RUN + ["method.name=NPO", "method.params.npo.beta=-0.1"],
     "method.params.npo.beta must be above 0 (got -0.1)")
case("gamma-negative", RUN + ["method.gamma=-1"], "method.gamma must be at least 0 (got -1.0)",
     "trains towards the forget set", "method.allow_negative_weights=true")
case("alpha-negative", RUN + ["method.name=NPO_GDR", "method.alpha=-2"], "method.alpha must be at least 0")
case("weight-negative", RUN + ["method.name=NPO_GDR", "method.weights.gdr=-1"], "method.weights.gdr must be at least 0")
case("weight-infinite", RUN + ["method.name=NPO_GDR", "method.weights.gdr=inf"],
     "method.weights.gdr must be a finite number")
case("lora-dropout-one", RUN + ["lora.r=4", "lora.dropout=1"], "lora.dropout must be in [0, 1) (got 1.0)")
case("dtype-unknown", RUN + ["model.dtype=fp8"], "model.dtype must be one of float32, bfloat16, float16 (got 'fp8')")
case("reference-unknown", RUN + ["method.reference=sometimes"], "method.reference must be one of", "'sometimes'")
case("overlap-unknown", RUN + ["data.overlap=maybe"], "data.overlap must be one of warn, error, ignore")
case("flat-divergence-unknown", RUN + ["method.name=FLAT_TV", "method.params.flat.divergence=hellinger"],
     "method.params.flat.divergence must be one of tv, kl, js, pearson")
case("scheduler-unknown", RUN + ["train.scheduler=wobbly"], "train.scheduler 'wobbly' is unknown", "cosine")
case("template-uses-answer", RUN + ["data.template=Q: {question} A: {answer}"], "uses {answer}",
     "only {question} is filled in")
case("template-without-question", RUN + ["data.template=Tell me:"], "must contain {question}")
case("template-stray-brace", RUN + ["data.template=Q: {question} }"], "is not a valid template", "{{ and }}")
case("unknown-method", RUN + ["method.name=GAA"], "unknown method 'GAA'", "NPO_GDR")
case("unknown-tracker", RUN + ["train.report_to=tensorbord"], "train.report_to", "tensorbord", "tensorboard")
case("tracker-not-installed", RUN + ["train.report_to=mlflow"], "train.report_to: mlflow is not installed",
     "pip install mlflow")
case("param-of-another-term", RUN + ["method.name=NPO", "method.params.bta=0.1"], "method.params.bta",
     "no term or transform 'bta'")
case("param-set-flat", RUN + ["method.name=NPO_GDR", "method.params.beta=0.1"], "method.params.beta",
     "method.params.npo.beta=0.1")
case("param-of-a-term-without-any", RUN + ["method.name=NPO_KLR", "method.params.klr.beta=1"],
     "method.params.klr.beta: klr has no parameters")
case("param-not-a-number-in-yaml", ["unlearn", "--config", "@tmp/c.yaml", *RUN[1:]], "method.params.npo.beta", "'abc'",
     setup=_file("c.yaml", "method: {name: NPO, params: {npo: {beta: abc}}}\n"), extra=["method.name=NPO"])
case("unknown-transform", RUN + ["method.name=NPO+FOO"], "unknown gradient transform 'foo'", "gru")
case("weight-of-a-missing-term", RUN + ["method.name=NPO", "method.weights.gdr=1"], "method.weights.gdr", "npo")
case("unknown-column-field", RUN + ["data.columns.questoin=prompt"], "data.columns.questoin", "is not a field")
case("out-empty", RUN + ["out="], "out is empty; set out=FOLDER")
case("data-path-unset", RUN + ["data.path="], "data.path is not set", "unlearn world --out FOLDER")
case("data-path-is-a-file", RUN + ["data.path=@bad/forget10.json"], "data.path", "is a file",
     "data.forget_split to its name ('forget10')")
case("data-path-missing", RUN + ["data.path=@tmp/nowhere"], "nowhere", "does not exist", "unlearn world")
case("forget-split-missing", RUN + ["data.forget_split=forget33"], "forget split 'forget33' not found",
     "available: forget01, forget05, forget10")
case("config-file-missing", ["unlearn", "--config", "@tmp/none.yaml"], "config file", "none.yaml", "does not exist")
case("config-not-a-mapping", ["unlearn", "--config", "@tmp/c.yaml"], "must hold a mapping of sections",
     setup=_file("c.yaml", "- a\n- b\n"))
case("config-invalid-yaml", ["unlearn", "--config", "@tmp/c.yaml"], "is not valid YAML (", "at line 2, column 1)",
     setup=_file("c.yaml", "a: [1,\n"))
case("config-not-utf8", ["unlearn", "--config", "@tmp/c.yaml"], "config file", "c.yaml: not UTF-8 text (byte 0xfe",
     setup=lambda tmp: (tmp / "c.yaml").write_bytes(b"train: {lr: 1}\n# \xfe\n"))
case("config-section-not-a-mapping", ["unlearn", "--config", "@tmp/c.yaml"], "train must be a mapping",
     setup=_file("c.yaml", "train: 5\n"))
case("config-show-bad-key", ["config", "--show", "train.lrr=1"], "unknown config key 'train.lrr'")

# -- models -----------------------------------------------------------------------------------------
case("model-missing", RUN + ["model.path=@tmp/no-model"], "no-model", "does not exist")
case("model-needs-remote-code", RUN + ["model.path=@tmp/remote"], "ships its own code", "model.trust_remote_code=true",
     setup=_file("remote/config.json", json.dumps({"model_type": "mine", "auto_map": {
         "AutoModelForCausalLM": "modeling_mine.Mine"}})))
case("tokenizer-larger-than-embeddings", RUN + ["model.path=@tmp/bigtok"], "tokens but the model's embedding matrix has",
     "model.resize_token_embeddings", early=False, setup=lambda tmp: _big_tokenizer_model(tmp / "bigtok"))
case("model-path-is-the-weights-file", RUN + ["model.path=@target/model.safetensors"], "model.safetensors' is a file",
     "give the folder that holds it")
case("data-file-not-a-regular-file", RUN, "forget10.json is not a regular file (a link to /dev/zero)",
     setup=lambda tmp: ((tmp / "bad" / "forget10.json").unlink(), (tmp / "bad" / "forget10.json").symlink_to("/dev/zero")))
case("missing-column-in-a-fixed-layout", RUN, "forget10.json: row 0 has no column 'question'",
     "this benchmark's files have a 'question' column", "data.benchmark=custom data.columns.question=COLUMN",
     setup=_json("forget10", lambda rows: [{("query" if k == "question" else k): v for k, v in r.items()} for r in rows]))
case("muse-without-a-retain-corpus", ["unlearn", "model.path=@target", "data.benchmark=muse", "data.path=@tmp/news",
                                     "out=@tmp/run", "method.name=GA_GDR", "train.max_steps=1", "eval.enabled=false"],
     "GA_GDR trains on the retain set 'retain1' (MUSE's raw/retain1 corpus)", "a method that needs no retain data: GA,",
     setup=_file("news/raw/forget.txt", "A forget document.\n\nAnother one.\n"))
case("weights-missing", RUN + ["model.path=@tmp/noweights"], "has no weights (no *.safetensors file)",
     setup=lambda tmp: _model_copy(tmp / "noweights", drop=".safetensors"))
case("pickle-weights-only", RUN + ["model.path=@tmp/pickled"], "holds only pickle weights (pytorch_model.bin)",
     "unpickling can run code", "safe_serialization=True",
     setup=lambda tmp: _pickled_model(tmp / "pickled"))
case("tiny-model-hidden-30", ["tiny-model", "--world", "@world", "--out", "@tmp/tm", "--hidden-size", "30"],
     "--hidden-size 30 must be a positive multiple of 8")
case("tiny-model-vocab-10", ["tiny-model", "--world", "@world", "--out", "@tmp/tm", "--vocab-size", "10"],
     "--vocab-size 10 is below the 260 tokens")
case("tiny-model-no-layers", ["tiny-model", "--world", "@world", "--out", "@tmp/tm", "--layers", "0"],
     "--layers 0 must be at least 1")
case("tiny-model-no-world", ["tiny-model", "--world", "@tmp", "--out", "@tmp/tm"], "not a synthetic world folder")

# -- run folders ------------------------------------------------------------------------------------
case("out-under-a-file", RUN + ["out=@tmp/afile/run"], "cannot write", "afile", "Not a directory",
     setup=_file("afile", "x"))
case("out-read-only", RUN + ["out=@tmp/ro/run"], "cannot write the run folder", "ro/run", "choose another out=",
     setup=lambda tmp: _read_only(tmp / "ro"))
case("eval-out-read-only", EVAL + ["--out", "@tmp/ro"], "cannot write the output folder", "/ro", "choose another out=",
     setup=lambda tmp: _read_only(tmp / "ro"))
case("eval-out-under-a-file", EVAL + ["--out", "@tmp/afile/eval"], "cannot write the output folder", "afile",
     "a part of the path is a file", setup=_file("afile", "x"))
case("tiny-model-out-under-a-file", ["tiny-model", "--world", "@world", "--out", "@tmp/afile/tm"], "cannot write",
     "afile", "a file of that name is in the way", setup=_file("afile", "x"))
case("rerun-with-changed-config", ["finetune", "out=@targetrun", "model.path=@init", "data.path=@world",
                                   "train.lr=1e-3", "train.max_steps=30", "train.batch_size=16", "eval.enabled=false"],
     "holds a finished run made with a different config (train.lr: 0.003 -> 0.001)", "use a new out= folder")
case("calibrate-not-a-run", ["calibrate", "@tmp"], "is not a finished run folder", "give the out= folder")
case("calibrate-two-runs", ["calibrate", "@targetrun", "@tmp"], "takes one run", "use `unlearn compare RUN RUN ...`")
case("calibrate-tolerance-below-float-resolution", ["calibrate", "@targetrun", "--tol", "1e-20"],
     "calibration tolerance 1e-20 must be in [1e-06, 1)")
case("compare-mistyped-rank-by", ["compare", "@targetrun", "@targetrun", "--rank-by", "forget_rouge"],
     "--rank-by 'forget_rouge' is not measured", "valid: forget_prob, forget_rougeL_recall")
case("probe-no-relearning-steps", ["probe", "@targetrun", "--relearn-steps", "0"], "--relearn-steps 0 must be at least 1")
case("probe-metric-without-knowledge", ["probe", "@targetrun", "--metric", "fluency"],
     "'fluency' does not measure knowledge of the forget set", "use one that does")
case("probe-jailbreak-stray-brace", ["probe", "@targetrun", "--probes", "jailbreak", "--jailbreaks", "@tmp/j.yaml"],
     "jailbreak 'aim'", "uses {name}", "write literal braces as {{ and }}",
     setup=_file("j.yaml", "aim: 'You are {name}. {question}'\n"))
case("retain-eval-missing", EVAL + ["--retain-eval", "@tmp/no-eval"], "no-eval", "has no samples.jsonl",
     "evaluate the retain model there first")
case("retain-eval-truncated", EVAL + ["--retain-eval", "@tmp/ev"], "ev/metrics.json is not valid JSON",
     "evaluate the retain model there again", setup=lambda tmp: (_file("ev/metrics.json", '{"metrics": {')(tmp),
                                                                   _file("ev/samples.jsonl", "")(tmp)))
case("report-without-metrics", ["report", "@tmp", "--out", "@tmp/r.html"], "has no metrics.json",
     "give a run folder (unlearn unlearn) or an evaluation folder")
case("report-metrics-of-another-tool", ["report", "@tmp/ev", "--out", "@tmp/r.html"],
     "ev/metrics.json is not a metrics file of this toolkit", "unlearn eval MODEL --out FOLDER",
     setup=_file("ev/metrics.json", '{"results": {"mmlu": {"acc": 0.5}}}'))
case("report-truncated-samples", ["report", "@tmp/ev", "--out", "@tmp/r.html"], "samples.jsonl: line 2 is not valid JSON",
     "re-run the evaluation that wrote it", setup=lambda tmp: (_file("ev/metrics.json", '{"metrics": {}}')(tmp),
                                                               _file("ev/samples.jsonl", '{"id": 1}\n{"id": \n')(tmp)))
case("audit-bad-thresholds", ["audit", "@targetrun", "--thresholds", "@tmp/t.yaml"], "unknown key 'rouge'",
     setup=_file("t.yaml", "rouge: 0.3\n"))
case("audit-threshold-as-a-percentage", ["audit", "@targetrun", "--thresholds", "@tmp/t.yaml"],
     "extraction_max 20 is not a fraction in [0, 1]", "write 20% as 0.2", setup=_file("t.yaml", "extraction_max: 20\n"))

# -- the command line -------------------------------------------------------------------------------
case("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'", "see `unlearn --help`")
case("config-before-command", ["--config", "@tmp/c.yaml", "unlearn"], "--config goes after the command")
case("override-before-command", ["train.lr=1e-4", "unlearn"], "comes before the command",
     "write the command first")
case("unknown-option", ["unlearn", "--retain-only"], "unrecognized argument '--retain-only'", "unlearn unlearn --help")
case("option-bad-int", ["world", "--out", "@tmp/w", "--people", "many"], "argument --people: invalid int value: 'many'")
case("world-too-few-people", ["world", "--out", "@tmp/w", "--people", "3"], "--people must be at least 10 (got 3)")
case("demo-unknown-generator", ["demo", "--out", "@tmp/d", "--generator", "gpt"], "generator 'gpt' is not available",
     "hf:PATH", "http://HOST:PORT/v1#MODEL")
case("demo-unknown-method", ["demo", "--out", "@tmp/d", "--methods", "GA,FOO"], "'FOO'", "GA_GDR")
case("augment-missing-forget", ["augment", "--forget", "@tmp/none.json", "--out", "@tmp/a.jsonl"], "none.json",
     "does not exist")
case("augment-unknown-kind", ["augment", "--forget", "@world/forget10.json", "--out", "@tmp/a.jsonl", "--kind", "x"],
     "argument --kind: invalid choice: 'x'")
case("augment-unknown-generator", ["augment", "--forget", "@world/forget10.json", "--out", "@tmp/a.jsonl",
                                   "--generator", "gpt"], "generator 'gpt' is not available")
case("eval-unknown-suite", EVAL + ["--suite", "tofu,vibes"], "unknown suite 'vibes'", "valid: tofu, muse")
case("eval-unknown-metric", EVAL + ["--metrics", "happiness"], "unknown metric 'happiness'", "valid: ")
case("eval-offline-judge", EVAL + ["--metrics", "fluency", "eval.judge_model=offline"],
     "eval.judge_model=offline: the rule-based generator cannot rate answers")
case("eval-offline-entity-model", EVAL + ["--suite", "relearn", "eval.entity_model=offline"],
     "eval.entity_model=offline: the rule-based generator cannot list entities")
case("eval-missing-entity-model", EVAL + ["--suite", "relearn", "eval.entity_model=hf:@tmp/no_such_model"],
     "does not exist; give a local model folder")
case("augment-generic-ratio-nan", ["augment", "--forget", "@world/forget10.json", "--out", "@tmp/a.jsonl",
                                   "--generic-ratio", "nan"], "--generic-ratio nan must be a number of at least 0")
case("sequence-one-request", ["sequence", "--requests", "forget10", "data.path=@world", "model.path=@target"],
     "at least two requests")
case("sequence-unknown-metric", ["sequence", "--requests", "forget10[:1],forget10[1:2]", "--metric", "truthiness",
                                 "data.path=@world", "model.path=@target", "out=@tmp/seq"],
     "--metric 'truthiness'", "valid: prob, rougeL_recall")
case("ask-nothing", ["ask", "@target"], "nothing to ask")
case("ask-missing-model", ["ask", "@target", "@tmp/no_such_model", "--question", "Hi?"], "does not exist")
case("ask-questions-file-missing", ["ask", "@target", "--questions", "@tmp/none.txt"], "--questions", "no such file")
case("ask-unknown-split", ["ask", "@target", "--split", "forget77", "--data", "@world"], "forget77")
case("methods-unknown", ["methods", "NOPE"], "unknown method 'NOPE'")
case("metrics-with-override", ["metrics", "eval.batch_size=2"], "unlearn metrics takes no key=value overrides")


# -- model folders made for the cases above ---------------------------------------------------------------
_TARGET: list[Path] = []


def _model_copy(dest: Path, drop: str = "") -> None:
    shutil.copytree(_TARGET[0], dest, ignore=(lambda d, names: [n for n in names if drop and n.endswith(drop)]))


def _big_tokenizer_model(dest: Path) -> None:
    from transformers import AutoTokenizer

    _model_copy(dest)
    tokenizer = AutoTokenizer.from_pretrained(str(dest))
    tokenizer.add_tokens([f"<extra_{i}>" for i in range(700)])
    tokenizer.save_pretrained(str(dest))


def _pickled_model(dest: Path) -> None:
    import torch
    from safetensors.torch import load_file

    _model_copy(dest, drop=".safetensors")
    torch.save(load_file(str(_TARGET[0] / "model.safetensors")), dest / "pytorch_model.bin")


def _read_only(folder: Path) -> Callable[[], None]:
    """Make `folder` read-only for this process; returns the undo. A normal user: permissions. Root
    writes through permissions, so there: a read-only bind mount (skipped where mounting is not allowed)."""
    import os
    import subprocess

    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    for cmd in (["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,ro,bind", str(folder)]):
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip("as root, a read-only folder needs a read-only bind mount, and mounting is not allowed here")
    return lambda: subprocess.run(["umount", str(folder)], check=True)


# -- the runner -------------------------------------------------------------------------------------
# `unlearn sweep`: a bad grid is one line before anything is made (the grid's out= stays absent).
SWEEP_GRID = """out: {tmp}/sweep
models: {{tiny: {{tiny: {{}}}}}}
benchmarks: {{world: {{data: {{benchmark: synthetic, path: {tmp}/bad, forget_split: forget10}}}}}}
methods: [GA]
seeds: [0]
"""


def _sweep_grid(*changes: tuple[str, str]) -> Callable[[Path], None]:
    """A setup writing @tmp/grid.yaml: the good grid above with each (old, new) text replaced."""
    def setup(tmp: Path) -> None:
        text = SWEEP_GRID.format(tmp=tmp)
        for old, new in changes:
            assert old in text, old
            text = text.replace(old, new.replace("@tmp", str(tmp)))
        (tmp / "grid.yaml").write_text(text)
    return setup


SWEEP = ["sweep", "@tmp/grid.yaml"]
case("sweep-grid-missing", ["sweep", "@tmp/nope.yaml"], "sweep grid", "does not exist", "configs/sweeps/synthetic.yaml")
case("sweep-grid-not-yaml", SWEEP, "is not valid YAML", setup=_sweep_grid(("seeds: [0]", "seeds: [0")))
case("sweep-unknown-key", SWEEP, "unknown key 'method'", "valid: out, models",
     setup=_sweep_grid(("methods: [GA]", "method: [GA]")))
case("sweep-unknown-method", SWEEP, "unknown method 'GAA'", setup=_sweep_grid(("[GA]", "[GA, GAA]")))
case("sweep-seed-twice", SWEEP, "seed 0 is listed twice", setup=_sweep_grid(("seeds: [0]", "seeds: [0, 0]")))
case("sweep-negative-seed", SWEEP, "seeds must be a list of integers >= 0", setup=_sweep_grid(("[0]", "[-1]")))
case("sweep-bad-cell-setting", SWEEP, "GA seed 0 (tiny × world)", "train.lr",
     setup=_sweep_grid(("seeds: [0]", "seeds: [0]\nsettings: {train: {lr: -1}}")))
case("sweep-override-typo", SWEEP, "overrides.GA_GDRR", "unknown method",
     setup=_sweep_grid(("seeds: [0]", "seeds: [0]\noverrides: {GA_GDRR: {train: {lr: 1.0e-4}}}")))
case("sweep-data-missing", SWEEP, "benchmarks.world.data.path", "does not exist",
     setup=_sweep_grid(("/bad,", "/nowhere,")))
case("sweep-two-sources", SWEEP, "models.tiny must give exactly one of tiny or model",
     setup=_sweep_grid(("{tiny: {tiny: {}}}", "{tiny: {tiny: {}, model: {path: x}}}")))
case("sweep-small-world", SWEEP, "benchmarks.w.world: people must be at least 10",
     setup=_sweep_grid(("{world: {data:", "{w: {world: {people: 4}}, world: {data:")))
case("sweep-unknown-claim", SWEEP, "unknown claim 'ga_colapses'", "valid:",
     setup=_sweep_grid(("seeds: [0]", "seeds: [0]\nclaims: [ga_colapses]")))
case("sweep-scorer-retain-without-finetuning", SWEEP, "eval.scorer_model=retain needs a retain model",
     setup=_sweep_grid(("seeds: [0]", "seeds: [0]\nfinetune: false\nsettings: {eval: {scorer_model: retain}}")))
case("sweep-tofu-subset-authors", SWEEP, "tofu_subset authors 15 must be a multiple of 10",
     setup=_sweep_grid(("{world: {data:", "{t: {tofu_subset: {path: @tmp, authors: 15}}, world: {data:")))
case("sweep-package-not-installed", SWEEP, "models.m.package 'no_such_pkg' is not installed", "model.path=FOLDER",
     setup=_sweep_grid(("{tiny: {tiny: {}}}", "{tiny: {tiny: {}}, m: {package: no_such_pkg, model: {}}}")))
case("sweep-knowundo-subset-rows", SWEEP, "knowundo_subset train_rows 0 must be a positive integer",
     setup=_sweep_grid(("{world: {data:", "{k: {knowundo_subset: {path: @tmp, train_rows: 0}}, world: {data:")))
case("sweep-knowundo-subset-folder", SWEEP, "benchmarks.k.knowundo_subset.path must be a KnowUnDo domain folder",
     setup=_sweep_grid(("{world: {data:", "{k: {knowundo_subset: {path: @tmp/nowhere}}, world: {data:")))
case("sweep-keep-weights-not-a-boolean", SWEEP, "keep_weights must be true or false, not 'no way'",
     setup=_sweep_grid(("seeds: [0]", "seeds: [0]\nkeep_weights: no way")))
case("sweep-bad-override-on-the-line", [*SWEEP, "seeds"], "override 'seeds' must look like key.sub=value",
     setup=_sweep_grid())
case("sweep-leaderboard-only-before-a-sweep", [*SWEEP, "--leaderboard-only"], "sweep/sweep.json does not exist",
     "give the --out folder of a sweep", setup=_sweep_grid())
case("sweep-leaderboard-only-with-overrides", [*SWEEP, "seeds=[1]", "--leaderboard-only"],
     "--leaderboard-only runs nothing", "leave them out", setup=_sweep_grid())
case("sweep-leaderboard-only-not-a-sweep", [*SWEEP, "--leaderboard-only", "--out", "@tmp"], "is not a sweep's record",
     setup=lambda tmp: (_sweep_grid()(tmp), (tmp / "sweep.json").write_text('{"cells": 3}')))
case("sweep-leaderboard-only-cell-not-a-record", [*SWEEP, "--leaderboard-only", "--out", "@tmp"],
     "is not a sweep's record",
     setup=lambda tmp: (_sweep_grid()(tmp), (tmp / "sweep.json").write_text('{"grid": {}, "pairs": {}, "cells": [3]}')))
case("threads-zero", [*RUN, "--threads", "0"], "--threads: '0' is not a number of threads", "positive integer or 'auto'")
case("threads-not-a-number", ["--threads=many", *RUN], "--threads: 'many' is not a number of threads")
case("threads-without-a-value", [*RUN, "--threads"], "--threads needs a value")
case("fp16-on-cpu", [*RUN, "train.mixed_precision=fp16"], "train.mixed_precision=fp16 needs a CUDA GPU",
     "train.mixed_precision=bf16")
case("mixed-precision-on-bf16-weights", [*RUN, "train.mixed_precision=bf16", "model.dtype=bfloat16"],
     "keeps float32 master weights", "model.dtype=float32")
case("mixed-precision-unknown", [*RUN, "train.mixed_precision=fp8"], "train.mixed_precision", "bf16")
case("4bit-on-cpu", [*RUN, "model.load_in_4bit=true", "lora.r=8", "lora.save=adapter"],
     "model.load_in_4bit quantises the base with bitsandbytes, which needs a CUDA GPU")
case("4bit-and-8bit", [*RUN, "model.load_in_4bit=true", "model.load_in_8bit=true"], "both set; choose one")
case("flash-attention-on-cpu", [*RUN, "model.attn_implementation=flash_attention_2"],
     "model.attn_implementation=flash_attention_2 needs a CUDA GPU", "sdpa")
case("attention-unknown", [*RUN, "model.attn_implementation=fast"], "model.attn_implementation", "eager")
case("fsdp2-without-a-launcher", [*RUN, "train.shard=fsdp2"], "train.shard=fsdp2 runs under a distributed launcher",
     "torchrun --nproc_per_node N")
case("fsdp2-with-a-transform", [*RUN, "train.shard=fsdp2", "method.name=NPO_GDR+GRU"],
     "gradient transforms (GRU, SURE, DGS) compare whole gradients", "without sharding")
case("fsdp2-with-eval-during-training", [*RUN, "train.shard=fsdp2", "eval.every_steps=1"],
     "eval.every_steps evaluates the whole model", "not under train.shard=fsdp2")
case("shard-unknown", [*RUN, "train.shard=zero3"], "train.shard", "fsdp2")
case("plan-no-gpus", ["plan", "--model", "@target", "--gpus", "0"], "--gpus must be at least 1")
case("plan-model-missing", ["plan", "--model", "@tmp/nothing"], "cannot read its config")
case("plan-unknown-method", ["plan", "--model", "@target", "--method", "NOPE"], "NOPE")


def _resolve(arg: str, places: dict[str, Path]) -> str:
    for key in sorted(places, key=len, reverse=True):
        arg = arg.replace(f"@{key}", str(places[key]))
    return arg


@pytest.fixture
def model_loads(monkeypatch):
    """Counts the models loaded through transformers (every model the toolkit loads goes through it)."""
    from transformers import AutoModelForCausalLM

    calls: list[str] = []
    real = AutoModelForCausalLM.from_pretrained

    def spy(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    return calls


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, world, init_model, target_model, tmp_path, model_loads, capsys, monkeypatch, request):
    from unlearn.cli import main

    c = CASES[name]
    _TARGET[:] = [target_model]
    shutil.copytree(world, tmp_path / "bad")
    undo = c.setup(tmp_path) if c.setup else None
    if callable(undo):
        request.addfinalizer(undo)
    places = {"world": world, "bad": tmp_path / "bad", "target": target_model, "tmp": tmp_path,
              "init": init_model, "targetrun": target_model.parent}
    argv = [_resolve(a, places) for a in [*c.args, *c.extra]]
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))  # nothing shared between cases
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    if c.warning:
        assert code == 0, err
        warnings = [line for line in lines if line.startswith("unlearn: warning: ")]
        assert len(warnings) == 1 and not any("unlearn: error" in line for line in lines), err
        for fragment in c.fragments:
            assert fragment in warnings[0], (fragment, warnings[0])
        return
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("unlearn: error: "), err
    for fragment in c.fragments:
        assert fragment in lines[0], (fragment, lines[0])
    if c.early:
        assert model_loads == [], f"a model was loaded before the error: {model_loads}"
        made = [p for p in (tmp_path / "run", tmp_path / "eval", tmp_path / "d" / "world", tmp_path / "sweep")
                if p.exists()]
        assert not made, f"an early error left {made}"
