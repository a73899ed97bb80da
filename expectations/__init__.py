"""Great Expectations suites and the quality gates (per file before load, on the marts before publish)."""

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import threading
import types

# While it is imported, GX logs ~200 lines at INFO about its own API-docs and metric registries ("Skipping
# registering function ...", "Multiple declarations of metric ..."): under Airflow they were ~40% of a run's
# task log. Its warnings and errors still show.
for _registry_logger in ("great_expectations._docs_decorators", "great_expectations.expectations.registry"):
    logging.getLogger(_registry_logger).setLevel(logging.WARNING)

#: modules GX imports at start-up for one expectation gudang's suites do not use (KL divergence: scipy.stats
#: computes it, altair draws it); imported only when something first uses one of their attributes
DEFERRED_IMPORTS = ("scipy.stats", "altair")
#: attributes the import system itself reads from a package: answering them needs the real module
_REAL_MODULE_DUNDERS = frozenset({"__path__", "__all__"})
_loading = threading.Lock()


class DeferredModule(types.ModuleType):
    """Stands in for a module in ``sys.modules`` until one of its attributes is used, then imports it.

    ``import great_expectations`` took ~2.7 s, ~1 s of it scipy.stats and altair, on every pipeline run.
    ``importlib.util.LazyLoader`` does not help here: on Python 3.11 the ``import`` statement itself reads
    the lazy module's ``__spec__`` and so loads it at once. Other dunder lookups (``__file__``, which
    ``inspect`` asks of every module in ``sys.modules``) are answered as missing instead of loading it.
    """

    def __getattr__(self, attribute: str):
        if attribute.startswith("__") and attribute not in _REAL_MODULE_DUNDERS:
            raise AttributeError(attribute)
        with _loading:
            real = self.__dict__.get("_real_module")
            if real is None:
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
                real = self.__dict__["_real_module"] = importlib.import_module(self.__name__)
        return getattr(real, attribute)


def _defer_imports(names: tuple[str, ...]) -> None:
    for name in names:
        # find_spec of a top-level name imports nothing (of "scipy.stats" it would import scipy)
        if name in sys.modules or importlib.util.find_spec(name.partition(".")[0]) is None:
            continue
        module = DeferredModule(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        sys.modules[name] = module


if "great_expectations" not in sys.modules:
    _defer_imports(DEFERRED_IMPORTS)
