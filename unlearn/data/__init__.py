"""Data: reading files (formats), one record format (adapters), the benchmarks (benchmarks/, one module
per benchmark), checks of training data (checks), prompts and answer-only labels (tokenize), and the
synthetic world (world)."""
