"""ReLearn's KFR / KRR / LS (SPEC 5.4): hand-worked values, stub backends, and the real default models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from unlearn.core.errors import ConfigError, DataError
from unlearn.eval.backends import HFNLIModel, SentenceTransformerEmbedder, map_nli_labels
from unlearn.eval.metrics.relearn import (
    brunet_index,
    entity_score,
    honore_statistic,
    kfr_flag,
    krr_flag,
    linguistic_score,
    parse_judge,
    relearn_sample_scores,
    word_tokens,
)
from unlearn.generate.entities import LLMEntityExtractor, RuleEntityExtractor, parse_entity_list

# --- lexical statistics --------------------------------------------------------------------------

def test_brunet_and_honore_by_hand():
    tokens = ["the", "cat", "saw", "the", "dog"]
    # N = 5, V = 4. BI = 5 ** (4 ** -0.165): ln 4 = 1.386294, * -0.165 = -0.228739, exp = 0.795536;
    # ln 5 = 1.609438, * 0.795536 = 1.280366, exp = 3.597958.
    assert brunet_index(tokens) == pytest.approx(3.597958, abs=1e-6)
    # N1 (seen once) = 3 (cat, saw, dog). HS = 100 ln 5 / (1 - 3/4 + 0.1) = 160.9438 / 0.35 = 459.8394.
    assert honore_statistic(tokens) == pytest.approx(459.8394, abs=1e-4)
    # "at at at": V = 1 so BI = 3 ** 1 = 3; N1 = 0 so HS = 100 ln 3 / 1.1 = 109.86123 / 1.1 = 99.87384.
    assert brunet_index(["at"] * 3) == pytest.approx(3.0)
    assert honore_statistic(["at"] * 3) == pytest.approx(99.87384, abs=1e-4)
    # all tokens distinct: 1 - 2/2 + 0.1 = 0.1, HS = 100 ln 2 / 0.1 = 693.1472 (the +0.1 avoids 1/0)
    assert honore_statistic(["a", "b"]) == pytest.approx(693.1472, abs=1e-4)
    # empty text: BI 1000; at most one token: HS 0 (the authors' conventions)
    assert brunet_index([]) == 1000.0
    assert honore_statistic(["x"]) == 0.0


def test_word_tokens_split_punctuation_and_clitics():
    assert word_tokens("Don't stop, Paris!") == ["do", "n't", "stop", ",", "paris", "!"]
    assert word_tokens("It costs 3.5 euros.") == ["it", "costs", "3.5", "euros", "."]


def test_linguistic_score_by_hand():
    # PPL = BI = HS = 1: each part is 1/2, harmonic mean 1/2
    assert linguistic_score(1.0, 1.0, 1.0) == pytest.approx(0.5)
    # PPL 3 -> 1/4, BI 1 -> 1/2, HS 3 -> 3/4; HM = 3 / (4 + 2 + 4/3) = 3 / (22/3) = 9/22 = 0.409091
    assert linguistic_score(3.0, 1.0, 3.0) == pytest.approx(9 / 22)
    assert linguistic_score(3.0, 1.0, 0.0) == 0.0  # HS 0 -> part 0 -> harmonic mean 0
    with pytest.raises(DataError):
        linguistic_score(float("nan"), 1.0, 1.0)


# --- entity score and flags ----------------------------------------------------------------------

class StubEmbedder:
    """Fixed 2-D vectors, so cosines are known: Paris.Paris,France = 0.9, Paris.London = 0."""

    table = {
        "Paris": [1.0, 0.0],
        "Paris, France": [0.9, math.sqrt(1 - 0.81)],
        "Lutetia": [0.95, math.sqrt(1 - 0.9025)],
        "London": [0.0, 1.0],
        "Berlin": [0.7, math.sqrt(1 - 0.49)],
    }

    def encode(self, texts):
        return np.array([self.table[t] for t in texts])


def test_entity_score_counts_pairs_over_reference_count():
    emb = StubEmbedder()
    # Paris~"Paris, France" 0.9 (match); London~"Paris, France" = sqrt(0.19) = 0.436, Paris~Berlin = 0.7,
    # London~Berlin = sqrt(0.51) = 0.714 (no match): 1 pair / 2 references
    assert entity_score(["Paris", "London"], ["Paris, France", "Berlin"], "Who?", emb) == pytest.approx(1 / 2)
    # Paris and Lutetia both match "Paris, France" (0.9; 0.95*0.9 + sqrt(0.0975*0.19) = 0.855 + 0.136 = 0.991):
    # 2 pairs / 1 reference = 2 (pairs are counted, as in the authors' code, so E can exceed 1)
    assert entity_score(["Paris", "Lutetia"], ["Paris, France"], "Who?", emb) == pytest.approx(2.0)
    # "Paris" shares a word with the question, so it is dropped -> no generated entity -> 0
    assert entity_score(["Paris"], ["Paris, France"], "Why paris?", emb) == 0.0
    assert entity_score([], ["Paris"], "q", emb) == 0.0
    assert entity_score(["Paris"], [], "q", emb) == 0.0
    # no embedder: entities match when their word stems are equal -> 1 of 2 references
    assert entity_score(["paris", "Rome"], ["Paris", "Berlin"], "q", None) == pytest.approx(0.5)
    assert entity_score(["engineers"], ["engineer"], "q", None) == 1.0  # stem "engin" both


def test_question_entities_leave_both_lists():
    """ReLearn's prompt leaves the question's entities out of the generated and the reference list. A
    verbatim copy whose reference repeats the question's name: reference {Hsiao Yun-Hwa's, engineer} loses
    the name (it is in the question; "'s" is no word), generated the same, so E = 1/1, forgotten 0."""
    question = "What does Hsiao Yun-Hwa's father do?"
    answer = "Hsiao Yun-Hwa's father is an engineer."
    samples, _ = relearn_sample_scores([question], [answer], [answer], "forget")
    assert samples[0]["ref_entities"] == ["engineer"] and samples[0]["gen_entities"] == ["engineer"]
    assert samples[0]["entity_score"] == 1.0 and samples[0]["kfr"] == 0
    # dropping from the generated list only (the old wiring) would leave the name among the references:
    assert entity_score(["engineer"], ["Hsiao Yun-Hwa's", "engineer"], "Who?", None) == pytest.approx(0.5)


def test_rule_extractor_core_words_for_kfr():
    text = "Her father was a civil engineer and her mother was unemployed; she wrote poems in Lima."
    assert RuleEntityExtractor(core_words=True)(text) == ["Lima", "father", "civil", "engineer", "mother",
                                                          "unemployed", "poems"]
    assert RuleEntityExtractor()(text) == ["Lima"]  # the offline generator's default: no core words


TOFU = Path(__file__).resolve().parents[2] / "shared" / "data" / "tofu"


@pytest.mark.skipif(not (TOFU / "forget10.json").exists(), reason="needs ../shared/data/tofu")
def test_kfr_krr_on_real_tofu_answers():
    """Offline (rules, no embedder, no NLI) on TOFU's forget10: the reference answers as generations are
    retained (KFR ~0, KRR ~1); the answer another author (20 rows on) gave, or a vague refusal, are
    forgotten (KFR ~1, KRR ~0). The one verbatim row counted forgotten is
    "Yes, Moshe Ben-David was awarded the Distinguished Author Award in Islamic Literature.", whose
    every entity is in its question (E = 0 by the definition)."""
    rows = json.loads((TOFU / "forget10.json").read_text())
    questions, answers = [r["question"] for r in rows], [r["answer"] for r in rows]

    def rate(generations, role):
        samples, without = relearn_sample_scores(questions, generations, answers, role)
        assert without == ["llm_extractor", "embedder", "nli"]
        return sum(s["kfr" if role == "forget" else "krr"] for s in samples) / len(samples)

    other = answers[20:] + answers[:20]
    vague = ["I'm not sure about that; it is not something I can recall."] * len(rows)
    assert rate(answers, "forget") == pytest.approx(1 / 400) and rate(answers, "retain") == pytest.approx(399 / 400)
    assert rate(other, "forget") >= 0.98 and rate(other, "retain") <= 0.03
    assert rate(vague, "forget") == 1.0 and rate(vague, "retain") == 0.0


def test_kfr_thresholds_at_boundaries():
    # at most 3 reference entities: c1 = 0.5, inclusive
    assert kfr_flag(0.5, "neutral", 3) == 1
    assert kfr_flag(0.51, "neutral", 3) == 0
    # 4 reference entities: c1 = 0.3
    assert kfr_flag(0.3, "neutral", 4) == 1
    assert kfr_flag(0.4, "neutral", 4) == 0
    assert kfr_flag(0.4, "neutral", 3) == 1
    # contradiction forgets whatever the entities say; None = entity criterion alone
    assert kfr_flag(1.0, "contradiction", 4) == 1
    assert kfr_flag(1.0, None, 4) == 0
    with pytest.raises(DataError):
        kfr_flag(0.1, "CONTRADICTION", 2)


def test_krr_threshold_and_contradiction():
    assert krr_flag(0.3, "neutral") == 1
    assert krr_flag(0.29, "entailment") == 0
    assert krr_flag(0.9, "contradiction") == 0
    assert krr_flag(0.9, None) == 1


class RecordingNLI:
    def __init__(self, answer="neutral"):
        self.calls, self.answer = [], answer

    def labels(self, premises, hypotheses):
        self.calls.append((list(premises), list(hypotheses)))
        return [self.answer] * len(premises)


def test_nli_direction_and_computed_without():
    questions, gens, refs = ["Where did Ana live?"], ["She lived in Lima."], ["Ana lived in Quito, Ecuador."]
    nli = RecordingNLI("contradiction")
    samples, missing = relearn_sample_scores(questions, gens, refs, "forget", nli=nli)
    assert nli.calls == [(gens, refs)]  # forget: premise = generated, hypothesis = reference
    assert missing == ["llm_extractor", "embedder"]
    assert samples[0]["kfr"] == 1 and samples[0]["nli"] == "contradiction"
    nli = RecordingNLI("neutral")
    samples, missing = relearn_sample_scores(questions, gens, refs, "retain", extractor=RuleEntityExtractor(), nli=nli)
    assert nli.calls == [(refs, gens)]  # retain: premise = reference, hypothesis = generated
    assert missing == ["embedder"]
    # generated {Lima} vs reference {Quito, Ecuador} ("Ana" dropped from the reference: in the question): 0/2
    assert samples[0]["gen_entities"] == ["Lima"] and samples[0]["ref_entities"] == ["Quito", "Ecuador"]
    assert samples[0]["entity_score"] == 0.0 and samples[0]["krr"] == 0


def test_sample_scores_without_nli_use_entities_alone():
    samples, missing = relearn_sample_scores(
        ["Who wrote it?"], ["Written by Omar Haddad in 1999."], ["Omar Haddad, 1999."], "retain",
        extractor=RuleEntityExtractor(),
    )
    assert missing == ["embedder", "nli"]
    # 2 of 2 reference entities matched exactly -> E = 1, no NLI -> retained
    assert samples[0]["entity_score"] == 1.0 and samples[0]["nli"] is None and samples[0]["krr"] == 1
    with pytest.raises(DataError, match="role"):
        relearn_sample_scores(["q"], ["a"], ["b"], "holdout")
    with pytest.raises(DataError):
        relearn_sample_scores(["q"], ["a", "b"], ["c"], "forget")


def test_ls_of_a_set_is_the_harmonic_mean_of_its_means():
    """The registered derived metric on a set whose means are PPL 3, BI 1, HS 3:
    LS = HM(1/(1+3), 1/(1+1), 3/(1+3)) = HM(1/4, 1/2, 3/4) = 3 / (4 + 2 + 4/3) = 9/22."""
    from unlearn.eval.metrics import METRICS  # noqa: F401  (loads the definitions)
    from unlearn.eval.results import DerivedContext, ModelResults, compute_derived

    values = {"forget_gen_ppl": 3.0, "forget_brunet_index": 1.0, "forget_honore_statistic": 3.0}
    model = ModelResults(per_sample={"forget": {}}, values=values, roles={"forget": "forget"})
    value, direction = compute_derived(["linguistic_score"], DerivedContext(model))["forget_linguistic_score"]
    assert value == pytest.approx(9 / 22) and direction.higher_is_better()


# --- extractors ----------------------------------------------------------------------------------

def test_rule_extractor_finds_each_kind():
    text = "John Smith was born on 12/03/1999 in Paris and can be reached at john.smith@example.com; he wrote 42 books."
    assert RuleEntityExtractor().typed(text) == [
        ("email", "john.smith@example.com"), ("date", "12/03/1999"), ("name", "John Smith"),
        ("place", "Paris"), ("number", "42"),
    ]
    text = "The author Maria Lopez was born on March 5, 1980 in Santiago. In 2005 she moved to New York City."
    assert RuleEntityExtractor()(text) == ["March 5, 1980", "2005", "Maria Lopez", "Santiago", "New York City"]


def test_llm_extractor_parses_lists():
    seen = []

    def generate(prompt):
        seen.append(prompt)
        return 'Entities: "Paris", John Smith, 1999'

    assert LLMEntityExtractor(generate)("John Smith left Paris in 1999.") == ["Paris", "John Smith", "1999"]
    assert "John Smith left Paris in 1999." in seen[0]
    assert parse_entity_list("- Paris\n- John Smith\n2. 1999") == ["Paris", "John Smith", "1999"]
    assert parse_entity_list('["Paris", "paris", "John"]') == ["Paris", "John"]
    assert parse_entity_list("None") == []
    with pytest.raises(ConfigError):
        LLMEntityExtractor(lambda p: None)("text")


def test_judge_scores_parse_or_none():
    def judge(reply):
        return parse_judge(reply)

    assert judge('{"relevance": 5, "fluency": 4}') == {"fluency": 4, "relevance": 5}
    assert judge("Fluency (1-5): 3/5\nRelevance score: 2") == {"fluency": 3, "relevance": 2}
    assert judge("I cannot rate this.") == {"fluency": None, "relevance": None}
    assert judge("Fluency: 7, Relevance: 3.5") == {"fluency": None, "relevance": None}
    assert judge("Fluency: 4 ... actually Fluency: 2. Relevance: 1") == {"fluency": None, "relevance": 1}


# --- real backends -------------------------------------------------------------------------------

def test_real_default_embedder():
    embedder = SentenceTransformerEmbedder()
    vectors = embedder.encode(["Paris", "Paris", "Paris, France", "banana"])
    assert vectors.shape == (4, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)
    assert float(vectors[0] @ vectors[2]) > float(vectors[0] @ vectors[3])


def test_embedder_load_error_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        SentenceTransformerEmbedder(tmp_path / "missing")
    assert "\n" not in str(info.value) and "missing" in str(info.value)


def _tiny_nli(folder, id2label, bias=None):
    """A randomly initialised 1-layer BERT classifier with a word-level tokenizer, saved to folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "ana", "lived", "in", "lima", "quito", "she", "."]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(words), hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=32, num_labels=len(id2label), id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    model = BertForSequenceClassification(config)
    if bias is not None:  # zero weights + a chosen bias make the argmax class known
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(folder)
    return folder


NLI_ID2LABEL = {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}


def test_hf_nli_model_maps_labels_and_batches(tmp_path):
    premises = ["she lived in lima .", "ana lived in quito .", "she lived in quito .", "ana", "lima lima"]
    hypotheses = ["ana lived in quito .", "she lived in lima .", "ana", "she lived in lima .", "quito"]
    nli = HFNLIModel(_tiny_nli(tmp_path / "random", NLI_ID2LABEL), device="cpu", batch_size=2)
    labels = nli.labels(premises, hypotheses)
    assert len(labels) == 5 and set(labels) <= {"entailment", "neutral", "contradiction"}
    # class 2 forced to win: "ENTAILMENT" maps to "entailment"; class 0 -> "contradiction"
    forced = HFNLIModel(_tiny_nli(tmp_path / "ent", NLI_ID2LABEL, bias=[0.0, 0.0, 5.0]), device="cpu", batch_size=2)
    assert forced.labels(premises, hypotheses) == ["entailment"] * 5
    forced = HFNLIModel(_tiny_nli(tmp_path / "con", NLI_ID2LABEL, bias=[5.0, 0.0, 0.0]), device="cpu", batch_size=3)
    assert forced.labels(premises[:4], hypotheses[:4]) == ["contradiction"] * 4
    with pytest.raises(DataError):
        nli.labels(premises, hypotheses[:2])


def test_hf_nli_unmappable_labels_and_missing_model(tmp_path):
    folder = _tiny_nli(tmp_path / "generic", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ConfigError) as info:
        HFNLIModel(folder, device="cpu")
    assert "\n" not in str(info.value) and "LABEL_0" in str(info.value)
    # an explicit mapping rescues such a model
    assert HFNLIModel(folder, device="cpu", id2label=NLI_ID2LABEL).label_of == {
        0: "contradiction", 1: "neutral", 2: "entailment"
    }
    assert map_nli_labels({0: "entailment", 1: "Contradiction"}, "m") == {0: "entailment", 1: "contradiction"}
    with pytest.raises(ConfigError) as info:
        HFNLIModel(tmp_path / "nowhere", device="cpu")
    assert "\n" not in str(info.value) and "nowhere" in str(info.value)
