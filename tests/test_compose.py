"""compose.yaml is valid, takes every credential from the environment / .env, and refuses to start
without them. Checked with ``docker-compose config`` (Debian's ``docker-compose``), which needs no engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
REQUIRED = ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "MONGO_USER", "MONGO_PASSWORD",
            "PG_OWNER_PASSWORD", "PG_READONLY_PASSWORD", "MONGO_APP_PASSWORD", "MONGO_READONLY_PASSWORD"]
TEST_VALUES = {
    "POSTGRES_USER": "pg_tester",
    "POSTGRES_PASSWORD": "pg-pw-7d1c9e5b",
    "POSTGRES_DB": "p2p_compose_test",
    "MONGO_USER": "mongo_tester",
    "MONGO_PASSWORD": "mongo-pw-3fa8b2c4",
    "PG_OWNER_PASSWORD": "owner-pw-81c2d0aa",
    "PG_READONLY_PASSWORD": "ro-pw-5e6f7a8b",
    "MONGO_APP_PASSWORD": "app-pw-0b1c2d3e",
    "MONGO_READONLY_PASSWORD": "console-pw-9f8e7d6c",
}


@pytest.fixture(scope="module")
def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        message = "docker-compose is not on PATH: install Debian's package (apt-get install -y docker-compose)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _compose_config(docker_compose: str, env_file: Path, *args: str) -> subprocess.CompletedProcess:
    # Only the given env file: neither the caller's environment nor a developer's .env may leak in.
    env = {k: v for k, v in os.environ.items()
           if k not in REQUIRED and k not in ("P2P_ENV", "MONGODB_DB") and not k.startswith("COMPOSE_")}
    return subprocess.run([docker_compose, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)


def _write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_config_with_variables_has_the_three_services(docker_compose, tmp_path):
    proc = _compose_config(docker_compose, _write_env(tmp_path / "test.env", TEST_VALUES))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout

    services = _compose_config(docker_compose, _write_env(tmp_path / "test.env", TEST_VALUES), "--services")
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == {"postgres", "mongo", "app"}

    assert "image: postgres:16-alpine" in out
    assert "image: mongo:7" in out
    assert out.count("healthcheck:") == 3
    assert out.count("condition: service_healthy") == 2
    assert "/_stcore/health" in out
    assert "8501" in out
    for volume in ("pgdata:", "mongodata:"):
        assert volume in out
    # The values come from the env file, interpolated into the servers and the app's URLs.
    assert f"POSTGRES_PASSWORD: {TEST_VALUES['POSTGRES_PASSWORD']}" in out
    assert f"MONGO_INITDB_ROOT_PASSWORD: {TEST_VALUES['MONGO_PASSWORD']}" in out
    assert (f"DATABASE_URL: postgresql+psycopg://p2p_owner:{TEST_VALUES['PG_OWNER_PASSWORD']}"
            f"@postgres:5432/{TEST_VALUES['POSTGRES_DB']}") in out
    assert (f"MONGODB_URL: mongodb://p2p_app:{TEST_VALUES['MONGO_APP_PASSWORD']}"
            "@mongo:27017/?authSource=admin") in out
    assert "P2P_ENV: production" in out
    assert "python -m p2p_store up" in out and "streamlit run app.py" in out


def _compose_lines() -> list[str]:
    """compose.yaml without its comments."""
    return [line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")]


def test_no_credential_is_written_in_compose_yaml(docker_compose, tmp_path):
    for line in _compose_lines():
        if re.search(r"(PASSWORD|USER(NAME)?)\s*:", line):
            assert re.search(r"\$\{[A-Z_]+:\?[^}]+\}", line), f"credential not from the environment: {line.strip()}"
        # No credential variable has a default value to fall back on.
        assert not re.search(r"\$\{(POSTGRES|MONGO)_[A-Z]+:?-", line), line.strip()
    proc = _compose_config(docker_compose, _write_env(tmp_path / "test.env", TEST_VALUES))
    assert proc.returncode == 0, proc.stderr
    # Every password in the interpolated output (variables and URLs) is one the env file gave.
    given = {v for k, v in TEST_VALUES.items() if k.endswith("PASSWORD")}
    passwords = re.findall(r"PASSWORD: (\S+)", proc.stdout) + re.findall(r"://[^:/@\s]+:([^@\s]+)@", proc.stdout)
    assert len(passwords) == 6 + 4  # six *_PASSWORD variables, four URLs
    assert set(passwords) == given
    # Least privilege (#14): the app's URLs use its own logins, never the superuser / root ones.
    for url_user in re.findall(r"_URL: \S+://([^:/@\s]+):", proc.stdout):
        assert url_user in ("p2p_owner", "p2p_readonly", "p2p_app", "p2p_console"), url_user
    assert "/docker-entrypoint-initdb.d" in proc.stdout


def test_config_without_variables_fails_with_the_required_message(docker_compose, tmp_path):
    proc = _compose_config(docker_compose, _write_env(tmp_path / "empty.env", {}))
    assert proc.returncode != 0
    assert "set POSTGRES_" in proc.stderr or "set MONGO_" in proc.stderr, proc.stderr
    assert "(see .env.example)" in proc.stderr


@pytest.mark.parametrize("missing", REQUIRED)
def test_each_credential_is_required(docker_compose, tmp_path, missing):
    values = {k: v for k, v in TEST_VALUES.items() if k != missing}
    proc = _compose_config(docker_compose, _write_env(tmp_path / "partial.env", values))
    assert proc.returncode != 0
    assert f"set {missing} in the environment or .env" in proc.stderr, proc.stderr


def test_env_example_lists_every_variable_with_placeholders(docker_compose):
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    required_in_compose = set(re.findall(r"\$\{([A-Z_]+):\?", "\n".join(_compose_lines())))
    assert required_in_compose == set(REQUIRED)
    assert required_in_compose <= set(example)
    for name in [r for r in REQUIRED if r.endswith("PASSWORD")]:
        assert example[name].startswith("replace-with-"), f"{name} in .env.example must be a placeholder"
    # The example is complete: compose accepts it as it is.
    proc = _compose_config(docker_compose, ENV_EXAMPLE)
    assert proc.returncode == 0, proc.stderr


def test_app_can_run_as_several_replicas(docker_compose, tmp_path):
    """`--scale app=2` (#17): no fixed container name, a host port range (one port per replica),
    replicas settable; the stores stay single."""
    import yaml

    env = _write_env(tmp_path / "test.env", {**TEST_VALUES, "APP_REPLICAS": "2"})
    proc = _compose_config(docker_compose, env)
    assert proc.returncode == 0, proc.stderr
    app = yaml.safe_load(proc.stdout)["services"]["app"]
    assert "container_name" not in app
    assert app["deploy"]["replicas"] == 2
    (port,) = app["ports"]
    low, high = (int(p) for p in str(port["published"]).split("-"))
    assert port["target"] == 8501 and high - low + 1 >= 2
