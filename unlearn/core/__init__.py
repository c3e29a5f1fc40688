"""The bottom layer: what every feature of the package uses, importing nothing above it.

errors (one-line user errors and warnings), registry (the one name -> object table), ranges (value
ranges declared beside defaults), atomic (crash-safe writes, disk errors), files (the cache folder, file
stamps, reading JSON the toolkit wrote), cache (digests, model fingerprints, the per-pass cache),
progress (progress lines), device (where models run, which process speaks), batching (padding and the
ignore index), and formatting (numbers and Markdown tables). The version lives here too.
"""

__version__ = "0.1.0"
