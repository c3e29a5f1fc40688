"""Evidence that an unlearning worked, built on eval and engine: calibration by model mixing and the
ranking of runs at equal retention (calibrate, compare), robustness probes and the robustness suite they
register into eval (robustness), sequential deletion requests (sequence), and the deletion certificate
(audit); runs.py reads a finished run folder."""
