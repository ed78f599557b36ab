"""One settings object for the whole service, read from `NASBOARD_*` environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Paths default to the data directory, so `nasboard up --data-dir X` needs nothing else."""

    model_config = SettingsConfigDict(env_prefix="NASBOARD_", extra="ignore")

    data_dir: Path = Path("nasboard-data")
    database_url: str | None = None
    broker_url: str | None = None
    redis_url: str | None = None
    artefact_dir: Path | None = None
    dataset_dir: Path | None = None
    # Where a table search's CSV (dataset.name: table) may be read from via the API; default: dataset_dir.
    # Only that directory (symlinks resolved) is trusted: the file is parsed as CSV, never imported.
    table_dir: Path | None = None
    frontend_dir: Path = _REPO_ROOT / "frontend"
    host: str = "127.0.0.1"
    port: int = 8000
    # Kombu's SQL transport polls its table; the default (1 s) would dominate every dispatch hop.
    broker_polling_interval: float = 0.1
    # Request limits (issue 17): the largest request body, and the largest network a `layers`/`vit` space
    # may produce at its biggest configuration; both are checked before anything is stored.
    max_body_bytes: int = 1024 * 1024
    # Open SSE streams per API process: per client address, and in all (each holds a task and a socket).
    max_streams_per_client: int = 16
    max_streams: int = 500
    max_network_params: int = 50_000_000
    # A training candidate's lease (issue 17): renewed every third of it while its worker lives, so a
    # candidate whose worker died is requeued after at most this long (plus one sweep interval).
    lease_seconds: float = 150.0

    # --- access control (backend/api/security.py; docs/deployment.md "Authentication") ---
    # auto: tokens are required once the API listens beyond loopback (`host`, set by `nasboard up/api`).
    auth: Literal["required", "off", "auto"] = "auto"
    auth_reads: Literal["public", "private"] = "public"
    # Comma-separated; unset means the defaults of `host_allow_list` / same-origin only; `*` disables.
    allowed_hosts: str | None = None
    allowed_origins: str | None = None

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'nasboard.db'}"
        if self.broker_url is None:
            self.broker_url = f"sqla+sqlite:///{self.data_dir / 'broker.db'}"
        if self.redis_url is None and self.broker_url.startswith(("redis://", "rediss://")):
            self.redis_url = self.broker_url
        if self.artefact_dir is None:
            self.artefact_dir = self.data_dir / "artefacts"
        if self.dataset_dir is None:
            self.dataset_dir = self.data_dir / "datasets"
        if self.table_dir is None:
            self.table_dir = self.dataset_dir
        return self

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("sqla+")

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "required" or (self.auth == "auto" and not is_loopback(self.host))

    @property
    def host_allow_list(self) -> frozenset[str] | None:
        """Host names the API answers to (None: any). The default stops DNS rebinding: a foreign name
        resolving to this machine still arrives with its own name in the Host header."""
        if self.allowed_hosts:  # unset or empty (compose passes "" through): the defaults
            names = _split(self.allowed_hosts)
            return None if "*" in names else frozenset(names)
        bound = {self.host.lower()} if self.host not in ("0.0.0.0", "::", "") else set()
        return frozenset({"localhost", "127.0.0.1", "::1", *bound})

    @property
    def origin_allow_list(self) -> frozenset[str] | None:
        """Origins allowed to write besides the service's own (None: any)."""
        names = _split(self.allowed_origins or "")
        return None if "*" in names else frozenset(n.rstrip("/") for n in names)

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.artefact_dir, self.dataset_dir):
            path.mkdir(parents=True, exist_ok=True)


def _split(text: str) -> list[str]:
    return [part.strip().lower() for part in text.split(",") if part.strip()]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
