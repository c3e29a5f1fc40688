"""Generators of new training targets (ReLearn's augmentation, refusals, judges): one small interface,
a disk cache for every call, and backends (offline rules now; local and HTTP models to come)."""
