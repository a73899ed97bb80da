"""Imported only by the parse workers' fork server (:func:`extract.ingest._worker_context`).

The extract modules and the region reference (~0.6 s and ~60 MB to load) are loaded once in the fork
server, so every worker forked from it parses its first file at once instead of loading them again.
"""

import extract.ingest  # noqa: F401 - what the workers run
from extract.wilayah import load_wilayah

load_wilayah()
