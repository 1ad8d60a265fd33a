"""The GDPR Art. 30 record of processing activities, generated from the configuration.

Deployments are the recipients; each jurisdiction is classified as no transfer (EU/EEA or
on-premises), an adequacy decision (Art. 45) or a transfer needing Art. 46 safeguards, which
the controller must confirm: the record says so rather than guessing a contract it cannot see.
"""

from __future__ import annotations

from datetime import UTC, datetime

import markdown

from aiguillage.config import Settings, TenantPolicy

EEA = {
    "eu",
    "eea",
    "at",
    "be",
    "bg",
    "hr",
    "cy",
    "cz",
    "dk",
    "ee",
    "fi",
    "fr",
    "de",
    "gr",
    "hu",
    "ie",
    "it",
    "lv",
    "lt",
    "lu",
    "mt",
    "nl",
    "pl",
    "pt",
    "ro",
    "sk",
    "si",
    "es",
    "se",
    "is",
    "li",
    "no",
}
ON_PREM = {"on_prem", "onprem", "on-prem", "local", "self_hosted"}
# Countries with a Commission adequacy decision (Art. 45 GDPR).
ADEQUATE = {
    "ad": "Andorra",
    "ar": "Argentina",
    "ca": "Canada (commercial organisations)",
    "fo": "Faroe Islands",
    "gg": "Guernsey",
    "il": "Israel",
    "im": "Isle of Man",
    "jp": "Japan",
    "je": "Jersey",
    "nz": "New Zealand",
    "kr": "Republic of Korea",
    "ch": "Switzerland",
    "uk": "United Kingdom",
    "gb": "United Kingdom",
    "uy": "Uruguay",
}

SECURITY_MEASURES = [
    "API keys stored only as SHA-256 hashes; each request is attributed to a tenant and key id, "
    "never the key.",
    "Tamper-evident audit log: a Merkle tree (RFC 9162) over every event, with Ed25519-signed checkpoints; "
    "`aiguillage audit verify` recomputes it and names the first altered, missing or forged entry.",
    "Prompt and answer text kept off the log: only keyed hashes (HMAC-SHA-256) are logged; text is "
    "stored only for tenants whose policy sets `store_content`, encrypted (AES-256-GCM) under a "
    "per-data-subject key.",
    "Erasure (Art. 17) destroys the data subject's key and text; the erasure itself is logged.",
    "Personal-data inspection before routing; per-tenant actions (allow, block, local_only, "
    "pseudonymize) and jurisdiction allow-lists keep data away from deployments outside the "
    "permitted jurisdictions.",
    "Audit signing key and secrets kept outside the database (files readable only by the service account).",
]


def transfer_basis(jurisdiction: str | None) -> str:
    j = (jurisdiction or "").strip().lower()
    if not j:
        return "UNKNOWN jurisdiction: set `jurisdiction` on the deployment, then record the transfer basis"
    if j in ON_PREM:
        return "none: processed on the controller's own infrastructure"
    if j in EEA or j.startswith("eu-") or j.startswith("eu_"):
        return "none: within the EU/EEA"
    if j in ADEQUATE:
        return f"adequacy decision (Art. 45) for {ADEQUATE[j]}"
    if j in ("us", "usa"):
        return (
            "adequacy decision (Art. 45, EU-US Data Privacy Framework) if the provider is certified; "
            "otherwise standard contractual clauses (Art. 46(2)(c)) — controller to confirm"
        )
    return (
        "third-country transfer: standard contractual clauses or another Art. 46 safeguard"
        " — controller to confirm"
    )


def _cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _policy_row(name: str, pol: TenantPolicy) -> list[object]:
    juris = (
        ", ".join(pol.allowed_jurisdictions) if pol.allowed_jurisdictions is not None else "all in catalog"
    )
    overrides = ", ".join(f"{k}: {v}" for k, v in sorted(pol.personal_data_overrides.items())) or "—"
    return [name, juris, pol.personal_data, overrides, "yes" if pol.store_content else "no"]


def processing_record(settings: Settings, controller: str | None = None, now: datetime | None = None) -> str:
    """The Art. 30 record as Markdown."""
    now = now or datetime.now(UTC)
    a = settings.audit
    stores = [
        n for n, p in [("default", settings.default_policy), *settings.tenants.items()] if p.store_content
    ]
    kept = f"stored for {', '.join(stores)}" if stores else "not stored for any tenant"
    lines = [
        "# Record of processing activities (GDPR Art. 30)",
        "",
        f"Generated {now.strftime('%Y-%m-%d %H:%M UTC')} by aiguillage from `{settings.source}`.",
        "",
        "## Controller",
        "",
        controller
        or "*Name and contact details of the controller and of its data protection officer: fill in.*",
        "",
        "## Purposes of the processing",
        "",
        "- Forwarding users' AI requests to a language-model deployment chosen per request (cost, quality, "
        "jurisdiction), and returning the answer.",
        "- Enforcing the data-protection policy of each tenant (personal-data detection, "
        "jurisdiction limits).",
        "- Accounting usage and cost per tenant and key.",
        "- Keeping the automatic logs required of deployers of AI systems (AI Act Art. 12, 19, 26(6)) and "
        "demonstrating compliance (GDPR Art. 5(2)).",
        "",
        "## Categories of data subjects and of personal data",
        "",
        "- Data subjects: the end users of each tenant's applications, and people mentioned in their "
        "requests.",
        "- Request content (prompts and answers), which may contain any personal data including special "
        "categories; transmitted to the recipient deployment, never written to the audit log (kept, "
        "encrypted, only for tenants whose policy stores content: see Retention).",
        "- Logged metadata: tenant, key id, a keyed pseudonym of the data subject, times, routing decision, "
        "counts of detected personal-data types (never values), tokens, cost, keyed hashes of prompt "
        "and answer.",
        "",
        "## Recipients (deployments)",
        "",
        *_table(
            [
                "Deployment",
                "Provider",
                "Model",
                "Jurisdiction",
                "Provider's data retention",
                "Transfer basis",
            ],
            [
                [
                    d.id,
                    d.provider,
                    d.model or "—",
                    d.jurisdiction or "unknown",
                    d.data_retention or "not stated",
                    transfer_basis(d.jurisdiction),
                ]
                for d in settings.models
            ],
        ),
        "## Tenant policies",
        "",
        *_table(
            ["Tenant", "Allowed jurisdictions", "Personal data", "Per-type overrides", "Content stored"],
            [
                _policy_row("(default policy)", settings.default_policy),
                *(_policy_row(n, p) for n, p in sorted(settings.tenants.items())),
            ],
        ),
        "## Retention",
        "",
        f"- Request metadata (audit log): kept at least {a.metadata_retention_days} days (the AI Act "
        "requires at least six months, Art. 19(1) and 26(6)); afterwards the events are pruned to their "
        "position and hashes in the log, and the pruning is logged.",
        f"- Prompt and answer text: {kept}"
        f"; when stored, deleted after {a.content_retention_days} days or on erasure request (Art. 17).",
        "",
        "## Technical and organisational security measures (Art. 32)",
        "",
        *[f"- {m}" for m in SECURITY_MEASURES],
        "",
    ]
    return "\n".join(lines)


def to_html(md_text: str, title: str = "Record of processing activities") -> str:
    body = markdown.markdown(md_text, extensions=["tables"], output_format="html")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:.3em .6em;text-align:left}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
