"""Typed settings: read once from YAML, validated, passed explicitly.

The YAML file (``aiguillage serve --config FILE``) replaces the embedded default catalog.
``${ENV_VAR}`` anywhere in a string value is replaced from the environment at load time.
Validation errors name the file, the entry and the field, e.g.
``catalog.yaml: models[1] (id=mistral-large): price_eur_per_mtok.input: Input should be ...``.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TIERS = ("small", "medium", "large")
TIER_RANK = {t: i for i, t in enumerate(TIERS)}
PII_ACTIONS = ("allow", "block", "local_only", "pseudonymize")
PiiAction = Literal["allow", "block", "local_only", "pseudonymize"]
DEFAULT_MAX_BODY = 8 * 1024 * 1024


class ConfigError(Exception):
    """A configuration problem, with a message that names file, entry and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    input: Decimal = Decimal(0)
    output: Decimal = Decimal(0)

    @field_validator("input", "output")
    @classmethod
    def _non_negative(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError("prices cannot be negative")
        return v


class Timeouts(_Strict):
    """Seconds. ``first_token`` bounds the wait for the first byte/chunk of an answer."""

    connect: float = 5.0
    first_token: float = 60.0
    idle: float = 60.0
    total: float = 300.0


# How the embedded model's prompt is written (aiguillage.providers.local).
LOCAL_PROMPT_FORMATS = ("plain", "model")


class Deployment(_Strict):
    id: str
    provider: str
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    tier: Literal["small", "medium", "large"]
    jurisdiction: str | None = None
    price_eur_per_mtok: Price = Price()
    context_window: int = Field(default=8192, gt=0)
    languages: list[str] | Literal["all"] = "all"
    # None = the provider's own defaults; a list overrides them (e.g. [chat, stream] for a model without tools).
    capabilities: list[str] | None = None
    data_retention: str | None = None
    max_concurrency: int | None = Field(default=None, gt=0)
    queue_size: int = Field(default=64, ge=0)
    timeouts: Timeouts | None = None
    # Provider-specific settings (azure api_version, local model_path/threads, ...).
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/-]*", v):
            raise ValueError("ids use letters, digits and . _ : / -")
        if v in ("auto", *TIERS):
            raise ValueError(f"'{v}' is reserved (it selects a tier or the router)")
        return v

    @field_validator("languages")
    @classmethod
    def _lower_langs(cls, v: list[str] | str) -> list[str] | str:
        return v if v == "all" else [x.lower() for x in v]

    @model_validator(mode="after")
    def _local_prompt_format(self) -> Deployment:
        # Checked here, not when the model loads, so `config check` reports it with the entry.
        fmt = self.options.get("prompt_format")
        if fmt is not None and self.provider != "local":
            raise ValueError("options.prompt_format applies to provider 'local' only")
        if fmt is not None and fmt not in LOCAL_PROMPT_FORMATS:
            raise ValueError(f"options.prompt_format must be 'plain' or 'model', not {fmt!r}")
        return self

    def accepts_language(self, lang: str | None) -> bool:
        return lang is None or self.languages == "all" or lang in self.languages


class RouterSpec(_Strict):
    """Which routing strategy a tenant uses (see docs/routing.md)."""

    strategy: Literal["cheapest", "learned", "cascade"] = "cheapest"
    artifact: str | None = None
    # Keep this share of what the large model would deliver (learned), or escalate under this score (cascade).
    quality_target: float | None = Field(default=None, ge=0, le=1)
    threshold: float | None = Field(default=None, ge=0, le=1)
    cost_ceiling_eur: Decimal | None = None
    # Outcome-column name -> deployment id, when the training data names models differently.
    column_map: dict[str, str] = Field(default_factory=dict)


class Budget(_Strict):
    scope: Literal["tenant", "key"] = "tenant"
    key_id: str | None = None
    amount_eur: Decimal
    period: Literal["monthly", "daily", "custom"] = "monthly"
    period_days: int | None = Field(default=None, gt=0)
    mode: Literal["soft", "hard", "downgrade"] = "hard"
    # downgrade: when less than this share of the budget remains, route only below the top tier.
    downgrade_below: float = Field(default=0.2, ge=0, le=1)


class RateLimit(_Strict):
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)


class ShadowSpec(_Strict):
    share: float = Field(ge=0, le=1)
    deployment: str
    judge: str


class TenantPolicy(_Strict):
    allowed_jurisdictions: list[str] | None = None  # None = every jurisdiction in the catalog
    personal_data: PiiAction = "allow"
    # Per entity type (e.g. NATIONAL_ID, IBAN) an action stricter than the default.
    personal_data_overrides: dict[str, PiiAction] = Field(default_factory=dict)
    store_content: bool = False
    # Keep prompt, answer and verdicts on premises to train the router on this tenant's own traffic.
    collect_outcomes: bool = False
    router: RouterSpec = RouterSpec()
    budgets: list[Budget] = Field(default_factory=list)
    rate_limit: RateLimit | None = None
    shadow: ShadowSpec | None = None

    @field_validator("personal_data_overrides")
    @classmethod
    def _known_types(cls, v: dict[str, PiiAction]) -> dict[str, PiiAction]:
        # A misspelt type would silently never match: a policy that protects nothing.
        from aiguillage.inspect.entity import ALL_TYPES

        unknown = sorted(set(v) - set(ALL_TYPES))
        if unknown:
            raise ValueError(f"unknown personal-data type(s) {', '.join(unknown)}; the detected types are "
                             f"{', '.join(ALL_TYPES)}")
        return v


class AuditSettings(_Strict):
    enabled: bool = True
    metadata_retention_days: int = Field(default=183, ge=1)
    content_retention_days: int = Field(default=30, ge=0)
    checkpoint_every: int = Field(default=1024, gt=0)


class ResilienceSettings(_Strict):
    deadline_s: float = Field(default=120.0, gt=0)
    # How long a request waits for its record to be committed before it is answered 503.
    record_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_attempts: int = Field(default=3, ge=1)
    backoff_base_s: float = Field(default=0.05, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_window_s: float = Field(default=30.0, gt=0)
    breaker_cooldown_s: float = Field(default=10.0, gt=0)
    timeouts: Timeouts = Timeouts()
    health_check_interval_s: float | None = None


class ServerSettings(_Strict):
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY, gt=0)
    # A client that stops sending its body would otherwise hold a request slot for ever.
    body_timeout_s: float = Field(default=30.0, gt=0)
    shutdown_grace_s: float = Field(default=30.0, ge=0)


class Settings(_Strict):
    database_url: str | None = None
    redis_url: str | None = None
    otlp_endpoint: str | None = None
    server: ServerSettings = ServerSettings()
    models: list[Deployment]
    default_policy: TenantPolicy = TenantPolicy()
    tenants: dict[str, TenantPolicy] = Field(default_factory=dict)
    audit: AuditSettings = AuditSettings()
    resilience: ResilienceSettings = ResilienceSettings()
    # Where this settings object came from (for messages); not part of the YAML.
    source: str = "<embedded default>"

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        seen: set[str] = set()
        for d in self.models:
            if d.id in seen:
                raise ValueError(f"duplicate deployment id '{d.id}'")
            seen.add(d.id)
        return self

    def policy_for(self, tenant: str) -> TenantPolicy:
        return self.tenants.get(tenant, self.default_policy)

    def deployment(self, dep_id: str) -> Deployment | None:
        for d in self.models:
            if d.id == dep_id:
                return d
        return None


def home_dir() -> Path:
    return Path(os.environ.get("AIGUILLAGE_HOME") or Path.home() / ".aiguillage").expanduser()


def default_settings() -> Settings:
    """The embedded default: SQLite under $AIGUILLAGE_HOME and Gemma 3 270M in-process."""
    local = Deployment(
        id="local-small",
        provider="local",
        model="gemma-3-270m",
        tier="small",
        jurisdiction="on_prem",
        context_window=8192,
        data_retention="none (in-process)",
    )
    return Settings(models=[local])


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: Any, missing: list[str]) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        return _ENV.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, missing) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, missing) for k, v in value.items()}
    return value


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _locate(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """'models[1] (id=mistral-large): price_eur_per_mtok.input' for a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        models = raw.get("models")
        item = models[loc[1]] if isinstance(models, list) and loc[1] < len(models) else None
        entry = f"models[{loc[1]}]" + (f" (id={item['id']})" if isinstance(item, dict) and "id" in item else "")
        return f"{entry}: {_dotted(loc[2:])}" if len(loc) > 2 else entry
    return _dotted(loc)


def parse_settings(raw: Any, source: str) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'models:' list")
    missing: list[str] = []
    data = _expand(raw, missing)
    if missing:
        raise ConfigError(f"{source}: environment variable(s) not set: {', '.join(sorted(set(missing)))}")
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = _locate(data, tuple(err["loc"])) or "(top level)"
            lines.append(f"{source}: {where}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    _check_references(settings)
    return settings


def _check_references(s: Settings) -> None:
    ids = {d.id for d in s.models}
    for name, pol in [("default_policy", s.default_policy), *((f"tenants.{k}", v) for k, v in s.tenants.items())]:
        if pol.shadow:
            for field in ("deployment", "judge"):
                ref = getattr(pol.shadow, field)
                if ref not in ids:
                    raise ConfigError(f"{s.source}: {name}.shadow.{field}: unknown deployment '{ref}'")


def load_settings(path: str | Path | None) -> Settings:
    if path is None:
        return default_settings()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_settings(raw, str(p))
