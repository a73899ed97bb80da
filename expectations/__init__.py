"""Great Expectations suites and the quality gates (per file before load, on the marts before publish)."""

import logging

# While it is imported, GX logs ~200 lines at INFO about its own API-docs and metric registries ("Skipping
# registering function ...", "Multiple declarations of metric ..."): under Airflow they were ~40% of a run's
# task log. Its warnings and errors still show.
for _registry_logger in ("great_expectations._docs_decorators", "great_expectations.expectations.registry"):
    logging.getLogger(_registry_logger).setLevel(logging.WARNING)
