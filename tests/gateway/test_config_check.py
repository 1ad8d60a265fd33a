"""``aiguillage config check``: errors name the file, the entry and the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support import catalog, openai_deployment


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiguillage", "config", "check", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_valid_three_tier_catalog(tmp_path: Path) -> None:
    cfg = catalog(
        {"id": "local-small", "provider": "local", "tier": "small", "jurisdiction": "on_prem"},
        openai_deployment("vllm-medium", "http://10.0.0.5:8000/v1", "medium", "on_prem"),
        {**openai_deployment("mistral-large", "https://api.mistral.ai/v1", "large", "eu"),
         "api_key": "${MISTRAL_API_KEY:-unset}"},
    )
    f = tmp_path / "ok.yaml"
    f.write_text(yaml.safe_dump(cfg))
    out = check(f)
    assert out.returncode == 0, out.stderr
    assert "3 deployment(s)" in out.stdout and "large, medium, small" in out.stdout


def test_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    cfg = catalog(
        openai_deployment("a", "http://x/v1"),
        {**openai_deployment("b", "http://y/v1"), "tier": "huge", "price_eur_per_mtok": {"input": "cheap"}},
    )
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(cfg))
    out = check(f)
    assert out.returncode == 2
    assert f"{f}: models[1] (id=b): tier:" in out.stderr
    assert f"{f}: models[1] (id=b): price_eur_per_mtok.input:" in out.stderr


def test_unknown_provider_missing_env_and_duplicates(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(catalog({**openai_deployment("a", "http://x/v1"), "provider": "telepathy"})))
    out = check(f)
    assert out.returncode == 2 and "models[0] (id=a): provider: unknown provider 'telepathy'" in out.stderr
    f.write_text(yaml.safe_dump(catalog({**openai_deployment("a", "http://x/v1"), "api_key": "${NOPE_NOT_SET}"})))
    out = check(f)
    assert out.returncode == 2 and "NOPE_NOT_SET" in out.stderr
    f.write_text(yaml.safe_dump(catalog(openai_deployment("a", "http://x/v1"), openai_deployment("a", "http://y/v1"))))
    out = check(f)
    assert out.returncode == 2 and "duplicate deployment id 'a'" in out.stderr
    f.write_text("models: [unclosed")
    out = check(f)
    assert out.returncode == 2 and "not valid YAML" in out.stderr


def test_a_misspelt_personal_data_type_is_refused(tmp_path: Path) -> None:
    cfg = {**catalog(openai_deployment("a", "http://x/v1")),
           "tenants": {"acme": {"personal_data_overrides": {"IBAN": "block", "NATIONAL_IDS": "local_only"}}}}
    f = tmp_path / "pii.yaml"
    f.write_text(yaml.safe_dump(cfg))
    out = check(f)
    assert out.returncode == 2
    assert "tenants.acme.personal_data_overrides" in out.stderr
    assert "unknown personal-data type(s) NATIONAL_IDS" in out.stderr and "NATIONAL_ID" in out.stderr
    cfg["tenants"]["acme"]["personal_data_overrides"] = {"IBAN": "block", "NATIONAL_ID": "local_only"}
    f.write_text(yaml.safe_dump(cfg))
    assert check(f).returncode == 0


def test_the_local_prompt_format_is_checked(tmp_path: Path) -> None:
    local = {"id": "local-small", "provider": "local", "tier": "small", "jurisdiction": "on_prem"}
    f = tmp_path / "local.yaml"
    f.write_text(yaml.safe_dump(catalog({**local, "options": {"prompt_format": "chatml"}})))
    out = check(f)
    assert out.returncode == 2
    assert "models[0] (id=local-small)" in out.stderr and "prompt_format must be 'plain' or 'model'" in out.stderr
    for fmt in ("plain", "model"):
        f.write_text(yaml.safe_dump(catalog({**local, "options": {"prompt_format": fmt}})))
        assert check(f).returncode == 0, fmt
    f.write_text(yaml.safe_dump(catalog({**openai_deployment("a", "http://x/v1"), "options": {"prompt_format": "plain"}})))
    out = check(f)
    assert out.returncode == 2 and "models[0] (id=a)" in out.stderr and "provider 'local' only" in out.stderr
