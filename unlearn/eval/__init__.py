from unlearn.eval.suite import evaluate, evaluate_model

__all__ = ["evaluate", "evaluate_model"]
