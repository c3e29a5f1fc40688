"""Generators of new training targets: one small interface with a disk cache for every call (base),
backends named by one spec string (spec: offline rules, a local causal LM, an OpenAI-compatible HTTP
server), ReLearn's augmentation pipeline, refusals and reasoning refusals (targets), the entity
extraction KFR/KRR and the offline verifier share (entities), and `unlearn augment` on a file
(augment)."""
