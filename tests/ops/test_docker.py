"""What can be checked of the container without a Docker engine: build context, data place, entrypoint."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_build_context_leaves_out_secrets_and_bulk() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for entry in (".env", ".venv", ".git", "data/", "tests/", "**/__pycache__"):
        assert entry in ignored, f"{entry} would be sent to the Docker daemon"


def test_image_keeps_its_data_in_the_volume_and_runs_the_bot_as_a_user() -> None:
    assert re.search(r"^ENV .*\bDATA_DIR=/data\b", DOCKERFILE, re.M)
    assert 'VOLUME ["/data"]' in DOCKERFILE and "chown newsbot" in DOCKERFILE
    assert re.search(r"^USER newsbot$", DOCKERFILE, re.M)
    assert 'ENTRYPOINT ["newsbot"]' in DOCKERFILE and 'CMD ["run"]' in DOCKERFILE
    assert "/healthz" in DOCKERFILE.split("HEALTHCHECK", 1)[1]
    # dependencies are installed before the code is copied, so a code change reuses that layer
    assert DOCKERFILE.index("pip install") < DOCKERFILE.index("COPY bot ./bot")


def test_env_example_does_not_override_the_images_data_dir() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    assert not any(line.startswith("DATA_DIR=") for line in lines)
    assert any(line.startswith("# DATA_DIR=") for line in lines)


def test_compose_runs_postgresql_a_receiver_and_two_workers() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["receiver"]["command"] == ["run", "--role", "receiver"]
    assert services["worker"]["command"] == ["run", "--role", "worker"] and services["worker"]["deploy"]["replicas"] == 2
    for role in ("receiver", "worker"):
        env = services[role]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert services[role]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["image"].startswith("postgres:") and "healthcheck" in services["postgres"]
