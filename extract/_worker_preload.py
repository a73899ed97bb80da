"""Imported only by the parse workers' fork server (:func:`extract.ingest._worker_context`).

The extract modules and the region reference (~0.6 s and ~60 MB to load) are loaded once in the fork
server, so every worker forked from it parses its first file at once instead of loading them again.
They are then frozen out of the garbage collector: they live as long as the worker, and every full
collection walked them all again (a quarter of an e-PPGBM parse: the XML previews allocate many objects).
"""

import atexit
import gc

import extract.ingest  # noqa: F401 - what the workers run
from extract.wilayah import load_wilayah

load_wilayah()
gc.freeze()
# the fork server itself ends with a normal interpreter shutdown: give the frozen objects back first, else
# extension modules report them as leaked
atexit.register(gc.unfreeze)
