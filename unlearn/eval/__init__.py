"""Evaluation: what a metric is (`registry`), the metrics by family (`metrics`), the suites and the
resolution of a request (`suites`), what each dataset scores (`plan`), the shared passes (`passes`)
run by the one evaluator through the cache (`evaluator`), the models some metrics need (`parts`),
results and derived metrics (`results`), and `unlearn eval` below the CLI (`command`). Eval knows
nothing of the layers above it: they register model-level suites here (robustness)."""
