"""Builders of malformed agency files (the bad-input corpus) and the data-home helpers the issue-7 tests share."""

from .cases import CASES, CORPUS_LIMITS, GOOD_FILES, BadCase, Expectation, build_corpus
from .home import TEST_HASH_KEY, home_variables, subprocess_env, use_home, write_config

__all__ = [
    "CASES",
    "CORPUS_LIMITS",
    "GOOD_FILES",
    "TEST_HASH_KEY",
    "BadCase",
    "Expectation",
    "build_corpus",
    "home_variables",
    "subprocess_env",
    "use_home",
    "write_config",
]
