"""Operational configuration: limits, quality thresholds, alert routing.

Defaults live here; a deployment overrides any of them in a YAML file named by ``GUDANG_CONFIG``
(default ``$GUDANG_HOME/gudang.yml`` when present). Indicator weights (SPM index, kelurahan priority)
are dbt vars in ``dbt_project/dbt_project.yml`` because the SQL owns that math.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from gudang.settings import get_settings


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_file_bytes: int = 200 * 1024 * 1024
    max_rows_per_sheet: int = 2_000_000
    #: total uncompressed size of an xlsx (a zip): guards against zip bombs
    max_uncompressed_bytes: int = 1024 * 1024 * 1024
    #: uncompressed / compressed ratio above which an xlsx is treated as a zip bomb
    max_compression_ratio: float = 200.0
    #: one ingest task loads at most this many files / megabytes of input (each file all or nothing). Each
    #: task fills and drains its parse workers once (its first file waits for a parse, its last batch is
    #: gated with the workers idle): at 64 MB a province's e-PPGBM took four tasks and 6 s more than one.
    ingest_task_files: int = 500
    ingest_task_mb: int = 256
    #: an ingest call parses ahead in worker processes from this many files or megabytes of input on
    parse_worker_min_files: int = 20
    parse_worker_min_mb: int = 4
    #: worker processes parsing ahead (two keep both cores of a small server busy when parsing is slower)
    parse_workers: int = Field(default=2, ge=1)


class Quality(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: a file whose row count moves more than this share against the previous period's file is flagged
    volume_change_share: float = 0.5
    #: a file quarantined in a run blocks that run's publish (the last good marts stay)
    block_publish_on_quarantine: bool = True
    #: examples of rejected rows per file in the digest
    digest_examples_per_file: int = 5


class Alerts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: planners: e-mail addresses or apprise URLs (comma-separated in GUDANG_ALERT_PLANNERS)
    planners: list[str] = Field(default_factory=list)
    #: also send each agency its own part of the digest (to the registry's `contact`)
    notify_agencies: bool = True
    language: str = "id"
    sender: str = "gudang@localhost"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: Limits = Field(default_factory=Limits)
    quality: Quality = Field(default_factory=Quality)
    alerts: Alerts = Field(default_factory=Alerts)


#: libyaml's parser when PyYAML was built with it: ~9x faster than the pure-Python one (the marts' 45 KB
#: schema file, read by every report run, took 0.1 s)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file's content, safely loaded (no arbitrary Python objects)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)


@cache
def load_config(path: Path | None = None) -> Config:
    if path is None:
        configured = os.environ.get("GUDANG_CONFIG")
        path = Path(configured) if configured else get_settings().home / "gudang.yml"
    data = read_yaml(path) if path.exists() else {}
    config = Config.model_validate(data or {})
    planners_env = os.environ.get("GUDANG_ALERT_PLANNERS")
    if planners_env:
        config.alerts.planners = [p.strip() for p in planners_env.split(",") if p.strip()]
    if os.environ.get("GUDANG_ALERT_LANG"):
        config.alerts.language = os.environ["GUDANG_ALERT_LANG"]
    return config
