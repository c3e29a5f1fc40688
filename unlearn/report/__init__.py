"""Reports on a set of evaluated models, one pipeline for `unlearn report` and `unlearn demo`:

entries.py (a folder read back) -> build.py (the sections, each from tables.py, seesaw.py,
learning_claim.py, follow_ups.py, examples.py; document.py their record) -> html.py (with svg.py's
charts) and markdown.py (the same sections, twice); screenshot.py renders a page to PNG. Names, labels
and directions of metrics come from the metric registry and the files (keys.py, labels.py); what a
run's method does comes from its terms (method_kinds.py)."""
