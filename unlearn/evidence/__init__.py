"""Evidence that an unlearning worked: calibrated comparison (and, to come, robustness probes,
sequential deletions, reports and audits)."""
