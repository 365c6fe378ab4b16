"""Sample data sets shaped after the studies evalkit is built around.

The data are simulated; each comes with metadata that labels every number used to make it as ``published``,
``derived`` or ``assumed``. They work from an installed wheel as well as from a checkout.

Functions
---------
load_casita
    Casita pilot of parental coaching (60 children, 41 coached / 19 control).
casita_metadata
    Metadata of the Casita sample.
load_cuna_mas
    Cuna Más home visiting: 5,040 children in 180 districts of 12 departments, districts randomized within
    departments to early / late roll-out; baseline and follow-up child-development z-scores.
cuna_mas_metadata
    Metadata of the Cuna Más sample.
load_vraem
    VRAEM social-capital and family well-being programme: household panel (baseline/endline) in 31
    communities of 6 districts, 17 intervention / 14 control.
vraem_metadata
    Metadata of the VRAEM sample.
load_sample, sample_metadata
    Any sample by name; an unknown name raises :class:`evalkit.errors.DataError` listing the available ones.
available_samples
    Names of the available samples.
"""

from __future__ import annotations

from evalkit.datasets._loader import (
    available_samples,
    casita_metadata,
    cuna_mas_metadata,
    load_casita,
    load_cuna_mas,
    load_sample,
    load_vraem,
    sample_metadata,
    vraem_metadata,
)

__all__ = [
    "available_samples",
    "casita_metadata",
    "cuna_mas_metadata",
    "load_casita",
    "load_cuna_mas",
    "load_sample",
    "load_vraem",
    "sample_metadata",
    "vraem_metadata",
]
