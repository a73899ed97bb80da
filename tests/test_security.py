"""No secret in the repository; credentials and the pseudonymisation key come from the environment.

The repository scan covers every file git would commit (tracked, plus untracked files that are not
ignored), so a secret is caught before the commit that would leak it. (Formula injection in exports is
tested with the exports.)
"""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
from badinput import use_home

from gudang.settings import MIN_HASH_KEY_CHARS, PROJECT_ROOT, InsecureSecretError, Settings

#: Shapes that are a secret wherever they appear. (Written so that this file does not match itself.)
ALWAYS_SECRET = {
    "private key": re.compile(r"-{5}BEGIN ([A-Z]+ )?PRIVATE KEY-{5}"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Telegram bot token": re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    # A Fernet key is 32 url-safe base64 bytes: 43 characters and one '='.
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
}

#: ``password = "literal"`` in code, ``PASSWORD: literal`` in configuration. Placeholders that point at
#: the environment (``${VAR}``, ``{{ env_var(...) }}``, ``os.environ``) are not secrets.
CREDENTIAL_KEY = r"(?i)[\w.-]*(password|passwd|secret|fernet_key|api_key|token|hash_key)[\w.-]*"
QUOTED_LITERAL = re.compile(CREDENTIAL_KEY + r"\s*[=:]\s*(?P<value>\"[^\"]{4,}\"|'[^']{4,}')")
CONFIG_LITERAL = re.compile(CREDENTIAL_KEY + r"\s*[=:]\s*(?P<value>[^\s#\"'][^\s#]{3,})\s*$", re.MULTILINE)
CONFIG_SUFFIXES = {".yml", ".yaml", ".ini", ".cfg", ".conf", ".toml", ".env", ".properties"}
NOT_A_SECRET = re.compile(r"^[\"']?(\$\{|\{\{|<|%\(|changeme|change-me|example|xxx|\*+$)", re.IGNORECASE)

#: Placeholders and the tests' own throw-away fixtures may hold example credentials.
ALLOWED_EXAMPLES = re.compile(r"(^|/)\.env\.example$|^tests/")
#: Binary or bulky reference data that cannot hold a credential (and would only make the scan slow).
SKIPPED_FILES = re.compile(r"^reference/|^uv\.lock$|\.(png|jpg|jpeg|gif|ico|pdf|xlsx|xls|duckdb|parquet)$")


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [PROJECT_ROOT / name for name in listed if (PROJECT_ROOT / name).is_file()]


def _relative(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def test_the_scan_sees_the_repository() -> None:
    names = {_relative(p) for p in repository_files()}
    assert {"pyproject.toml", "gudang/settings.py", "tests/test_security.py"} <= names


def test_no_secret_shaped_strings_in_the_repository() -> None:
    findings = []
    for path in repository_files():
        name = _relative(path)
        if SKIPPED_FILES.search(name):
            continue
        text = _text(path)
        for label, pattern in ALWAYS_SECRET.items():
            for match in pattern.finditer(text):
                findings.append(f"{name}: {label} {match.group(0)[:12]}...")
    assert not findings, "\n".join(findings)


def test_no_literal_passwords_outside_examples_and_test_fixtures() -> None:
    findings = []
    for path in repository_files():
        name = _relative(path)
        if SKIPPED_FILES.search(name) or ALLOWED_EXAMPLES.search(name):
            continue
        text = _text(path)
        patterns = [QUOTED_LITERAL]
        if (
            path.suffix in CONFIG_SUFFIXES
            or path.name in {"Dockerfile", ".env"}
            or path.name.startswith("docker-compose")
        ):
            patterns.append(CONFIG_LITERAL)
        for pattern in patterns:
            for match in pattern.finditer(text):
                value = match.group("value")
                if not NOT_A_SECRET.match(value):
                    line = text.count("\n", 0, match.start()) + 1
                    findings.append(f"{name}:{line}: {match.group(0).strip()[:80]}")
    assert not findings, "literal credentials:\n" + "\n".join(findings)


def test_no_key_material_or_data_files_are_committed() -> None:
    names = [_relative(p) for p in repository_files()]
    forbidden = re.compile(r"(^|/)(\.env|hash\.key|.*\.pem|id_rsa.*|.*\.duckdb(\.wal)?|airflow\.db)$|^data/")
    assert [n for n in names if forbidden.search(n)] == []


def test_hash_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_home(monkeypatch, tmp_path / "with_env", hash_key="from-the-environment")
    assert Settings.from_env().hash_key == b"from-the-environment"
    assert not (tmp_path / "with_env" / "secrets").exists(), (
        "with GUDANG_HASH_KEY set, no key file is written"
    )

    # Without the variable the demo key is generated inside the data home, private to its owner.
    monkeypatch.delenv("GUDANG_HASH_KEY")
    demo = Settings.from_env()
    key = demo.hash_key
    key_file = demo.home / "secrets" / "hash.key"
    assert key_file.read_text().strip().encode() == key and len(key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not key_file.resolve().is_relative_to(PROJECT_ROOT / "gudang")
    assert Settings.from_env().hash_key == key, "the demo key is stable across runs"


@pytest.mark.parametrize(
    ("key", "named"),
    [("change-me", "nilai contoh 'change-me'"), ("kunci-pendek", "terlalu pendek (12 karakter; minimal 16)")],
)
def test_a_placeholder_or_short_hash_key_is_refused_with_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str, named: str
) -> None:
    """.env.example's placeholder, or a key short enough to guess, would let anyone holding the warehouse
    hash every plausible NIK and so undo the pseudonyms: nothing is hashed with it."""
    use_home(monkeypatch, tmp_path, hash_key=key)
    with pytest.raises(InsecureSecretError, match="GUDANG_HASH_KEY tidak aman") as refused:
        Settings.from_env().hash_key  # noqa: B018 - the property is what refuses
    assert named in str(refused.value) and "secrets.token_urlsafe(32)" in str(refused.value)

    use_home(monkeypatch, tmp_path, hash_key="k" * MIN_HASH_KEY_CHARS)
    assert Settings.from_env().hash_key == b"k" * MIN_HASH_KEY_CHARS


STORE_A_CONNECTION = """
from gudang.airflow_setup import ensure_airflow
ensure_airflow()
from airflow.models import Connection
from airflow.utils.session import create_session
with create_session() as session:
    session.add(Connection(conn_id="smtp_default", conn_type="smtp", host="127.0.0.1", password="rahasia-smtp"))
"""


def test_airflow_stores_connection_passwords_encrypted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The embedded Airflow gets a Fernet key made in the data home, so an SMTP password is not kept in
    plain text in its metadata database; a key the deployment sets is used instead, and none is made."""
    import os
    import sqlite3
    import sys

    from cryptography.fernet import Fernet

    home = tmp_path / "home"
    use_home(monkeypatch, home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    subprocess.run([sys.executable, "-c", STORE_A_CONNECTION], env=env, check=True, capture_output=True)
    key_file = home / "secrets" / "airflow_fernet.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with sqlite3.connect(home / "airflow" / "airflow.db") as meta:
        stored, encrypted = meta.execute(
            "SELECT password, is_encrypted FROM connection WHERE conn_id = 'smtp_default'"
        ).fetchone()
    assert encrypted and "rahasia-smtp" not in stored
    assert Fernet(key_file.read_text().strip().encode()).decrypt(stored.encode()) == b"rahasia-smtp"

    deployed = Fernet.generate_key().decode()
    other = tmp_path / "deployed"
    use_home(monkeypatch, other)
    from gudang.airflow_setup import airflow_env

    for chosen in (deployed, ""):  # an empty key is the deployment's choice too (no encryption)
        monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", chosen)
        assert airflow_env(Settings.from_env())["AIRFLOW__CORE__FERNET_KEY"] == chosen
    assert not (other / "secrets" / "airflow_fernet.key").exists()


def test_no_hard_coded_hash_key_in_code() -> None:
    """Every keyed hash takes its key from Settings.hash_key, never from a literal."""
    literal_key = re.compile(r"hmac\.(new|digest)\(\s*b?[\"']|hash_key\s*=\s*b?[\"']")
    findings = [
        _relative(p)
        for p in repository_files()
        if p.suffix == ".py" and not _relative(p).startswith("tests/") and literal_key.search(_text(p))
    ]
    assert findings == []


def _compose_files() -> list[Path]:
    return [
        p for p in repository_files() if p.name.startswith("docker-compose") or p.name.startswith("compose.")
    ]


def test_deployment_credentials_come_from_the_environment() -> None:
    """docker-compose: Airflow admin, database password, Fernet/JWT secrets, hash key are ``${VARS}``."""
    compose = _compose_files()
    assert compose, "docker-compose.yml is missing (issue 5 delivers it)"
    credential_line = re.compile(
        r"(?im)^\s*-?\s*[\"']?(?P<key>[\w.]*(PASSWORD|FERNET_KEY|SECRET_KEY|JWT_SECRET|HASH_KEY|"
        r"SIMPLE_AUTH_MANAGER_USERS|_AIRFLOW_WWW_USER_USERNAME)[\w.]*)[\"']?\s*[:=]\s*(?P<value>.*)$"
    )
    seen, literal = [], []
    for path in compose:
        for match in credential_line.finditer(_text(path)):
            seen.append(match.group("key"))
            value = match.group("value").strip().strip("\"'")
            if value and "${" not in value:
                literal.append(f"{_relative(path)}: {match.group('key')}={value}")
    assert not literal, "credentials must be ${VARIABLES} from .env:\n" + "\n".join(literal)
    assert any("GUDANG_HASH_KEY" in key for key in seen), f"compose must pass GUDANG_HASH_KEY; saw {seen}"
    assert any("PASSWORD" in key or "SIMPLE_AUTH_MANAGER" in key for key in seen), (
        f"compose must set the Airflow admin credentials from the environment; saw {seen}"
    )


def test_env_example_documents_every_compose_variable() -> None:
    compose = _compose_files()
    assert compose, "docker-compose.yml is missing (issue 5 delivers it)"
    referenced = {m for p in compose for m in re.findall(r"\$\{(\w+)(?::?[-?][^}]*)?\}", _text(p))}
    examples = [p for p in repository_files() if p.name == ".env.example"]
    assert examples, ".env.example is missing"
    documented = set(re.findall(r"(?m)^\s*#?\s*(\w+)=", _text(examples[0])))
    required = {v for v in referenced if re.search(r"PASSWORD|SECRET|FERNET|HASH_KEY", v)}
    assert required <= documented, f"not in .env.example: {sorted(required - documented)}"


def test_the_patterns_catch_what_they_are_for() -> None:
    """The scans above would be vacuous if the patterns missed real secrets (built here, not stored)."""
    samples = {
        "private key": "-" * 5 + "BEGIN RSA PRIVATE KEY" + "-" * 5,
        "AWS access key id": "AKIA" + "ABCDEFGHIJKLMNOP",
        "Fernet key": "a" * 43 + "=",
        "Telegram bot token": "123456789:AA" + "b" * 33,
    }
    for label, sample in samples.items():
        assert ALWAYS_SECRET[label].search(f"x = '{sample}'"), label
    assert QUOTED_LITERAL.search('smtp_password = "' + "hunter22" + '"')
    assert CONFIG_LITERAL.search("POSTGRES_PASSWORD: " + "airflow123\n")
    assert not NOT_A_SECRET.match("hunter22")
    assert NOT_A_SECRET.match("${AIRFLOW_ADMIN_PASSWORD}")


def test_no_usage_telemetry_leaves_the_agencys_machines(tmp_path: Path) -> None:
    """Cosmos reports every DAG run to its vendor's analytics unless told not to; gudang tells it, both in
    the embedded defaults (checked in an interpreter configured by them, as `gudang run` is) and in Compose."""
    import json
    import os
    import sys

    import yaml

    probe = (
        "import json\n"
        "from gudang.airflow_setup import apply_env\n"
        "from gudang.settings import Settings\n"
        "apply_env(Settings.from_env())\n"
        "from cosmos import telemetry\n"
        "print(json.dumps([telemetry.should_emit(), telemetry.emit_usage_metrics_if_enabled('dag_run', {})]))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GUDANG_HOME"))}
    environment.pop("DO_NOT_TRACK", None)
    environment.pop("SCARF_NO_ANALYTICS", None)
    environment["GUDANG_HOME"] = str(tmp_path / "home")
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    assert json.loads(shown.stdout.strip().splitlines()[-1]) == [False, False]

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert compose["x-airflow-env"]["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "false"
