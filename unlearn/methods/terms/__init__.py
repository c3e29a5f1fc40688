"""The loss terms and the presets built on them, one module per family of objectives (mirroring
unlearn/losses): likelihood (NLL, GA), divergence (KL), preference (NPO, DPO, SimNPO), token_weighted
(WGA, SatImp, TNPO, TS), distill (UNDIAL, CE-U, BS-T), flat (FLAT), representation (RMU). Importing this
package registers every term and preset."""

from unlearn.methods.terms import (  # noqa: F401  (they register)
    divergence,
    likelihood,
    preference,
    token_weighted,
    distill,
    flat,
    representation,
)
