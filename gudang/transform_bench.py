"""Measure the Airflow-run transform against a bare ``dbt build`` of the same dbt project.

    python -m gudang.transform_bench [--project DIR] [--modes watcher,local,build] [--repeat 2]

For each Cosmos mode the dbt part of ``gudang_transform`` (the ``dbt`` task group, or the single
``dbt_build`` task) runs through ``dag.test()`` in a fresh interpreter with ``GUDANG_DBT_MODE`` set, on a
copy of the current warehouse; the bare baseline is ``dbt build`` on the command line. Parse time (the DAG
file import, which includes Cosmos rendering the project) is reported separately because the
dag-processor pays it, not the run. Results go to stdout and ``$GUDANG_HOME/reports/bench/transform.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gudang.settings import DBT_PROJECT_DIR, get_settings

_CHILD = r"""
import json, sys, time
t0 = time.monotonic()
from airflow.dag_processing.dagbag import DagBag
from gudang.settings import DAGS_DIR
bag = DagBag(dag_folder=str(DAGS_DIR / "gudang_transform.py"))
assert not bag.import_errors, bag.import_errors
parse_s = time.monotonic() - t0
dag = bag.dags["gudang_transform"]
dbt_tasks = [t.task_id for t in dag.tasks if t.task_id.startswith("dbt")]
subset = dag.partial_subset(task_ids=dbt_tasks, include_upstream=False, include_downstream=False)
t1 = time.monotonic()
run = subset.test()
run_s = time.monotonic() - t1
print(json.dumps({"parse_s": parse_s, "run_s": run_s, "state": str(run.state), "tasks": len(dbt_tasks)}))
"""


def _bare_dbt_build(project: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(
        ["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def _airflow_mode(mode: str, project: Path, env: dict[str, str]) -> dict:
    child_env = {**env, "GUDANG_DBT_MODE": mode, "GUDANG_DBT_PROJECT_DIR": str(project)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=child_env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"mode {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    from gudang.airflow_setup import ensure_airflow
    from gudang.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=DBT_PROJECT_DIR)
    parser.add_argument("--modes", default="watcher,local,build")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    source = get_settings()
    with tempfile.TemporaryDirectory(prefix="gudang-bench-") as tmp:
        # A throwaway home with a copy of the warehouse: the benchmark must not touch a real run's data.
        settings = Settings(home=Path(tmp))
        if source.warehouse.exists():
            shutil.copy(source.warehouse, settings.warehouse)
        env = {**os.environ, **ensure_airflow(settings), "GUDANG_WAREHOUSE": str(settings.warehouse)}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        results: dict[str, dict] = {}
        bare = [_bare_dbt_build(args.project, env) for _ in range(args.repeat)]
        results["bare dbt build"] = {"run_s": statistics.median(bare), "runs": bare}
        for mode in args.modes.split(","):
            runs = [_airflow_mode(mode, args.project, env) for _ in range(args.repeat)]
            results[mode] = {
                "run_s": statistics.median(r["run_s"] for r in runs),
                "parse_s": statistics.median(r["parse_s"] for r in runs),
                "tasks": runs[0]["tasks"],
                "states": [r["state"] for r in runs],
            }
    baseline = results["bare dbt build"]["run_s"]
    for name, result in results.items():
        result["ratio"] = round(result["run_s"] / baseline, 2)
        parse = f", parse {result['parse_s']:.1f} s" if "parse_s" in result else ""
        print(f"{name:16s} {result['run_s']:6.1f} s  x{result['ratio']:<5} {result.get('states', '')}{parse}")
    out = source.reports / "bench" / "transform.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"project": str(args.project), "results": results}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
