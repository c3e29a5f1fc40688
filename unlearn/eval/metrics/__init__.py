"""Every metric's definition, one module per family, and the registries they fill.

tofu (probability, ROUGE-L, truth ratio; forget quality, model utility), muse (VerbMem, KnowMem),
memorisation (exact memorisation, extraction strength), privacy (membership attacks, their AUCs and
PrivLeak), relearn (KFR, KRR, the linguistic score, the judge's ratings), choice (multiple-choice
accuracy), harm (the harmful rate on harmful prompts, the refusal rate on ordinary ones), copyright
(BLEU and ROUGE-L of text completions, FLAT's forget-quality gap, perplexity of a general text). Consumers take METRICS and DERIVED from here, so the definitions are always loaded.
"""

from unlearn.eval.metrics import choice, copyright, harm, memorisation, muse, privacy, relearn, tofu  # noqa: F401  (they register)
from unlearn.eval.registry import DERIVED, METRICS, label_of

__all__ = ["DERIVED", "METRICS", "label_of"]
