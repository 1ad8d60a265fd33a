"""Microsoft Presidio as the reference, in the pinned setup of the benchmark.

presidio-analyzer with every pattern and checksum recognizer it ships for European entities (generic ones
plus the German, Italian, Polish, Spanish, Finnish, Swedish and UK recognizers), registered for each of the
eight languages; the no-op NLP engine, since no NER model installs offline for most of these languages;
phone recognizer told about the European numbering plans; score threshold 0.
"""

from __future__ import annotations

import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer import predefined_recognizers as pr
from presidio_analyzer.nlp_engine import NlpEngineProvider

# Presidio's e-mail validator calls tldextract, which by default downloads the public-suffix list; use the
# snapshot bundled with the package so the benchmark makes no network call.
tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())

LANGUAGES = ("de", "fr", "it", "es", "nl", "pl", "pt", "en")
PHONE_REGIONS = ("DE", "AT", "CH", "FR", "BE", "LU", "IT", "ES", "NL", "PL", "PT", "GB", "IE")

RECOGNIZERS = (
    pr.EmailRecognizer, pr.IbanRecognizer, pr.CreditCardRecognizer, pr.IpRecognizer, pr.DateRecognizer,
    pr.DeBsnrRecognizer, pr.DeFuehrerscheinRecognizer, pr.DeHandelsregisterRecognizer,
    pr.DeHealthInsuranceRecognizer, pr.DeIdCardRecognizer, pr.DeKfzRecognizer, pr.DeLanrRecognizer,
    pr.DePassportRecognizer, pr.DePlzRecognizer, pr.DeSocialSecurityRecognizer, pr.DeTaxIdRecognizer,
    pr.DeTaxNumberRecognizer, pr.DeVatIdRecognizer,
    pr.ItDriverLicenseRecognizer, pr.ItFiscalCodeRecognizer, pr.ItIdentityCardRecognizer,
    pr.ItPassportRecognizer, pr.ItVatCodeRecognizer,
    pr.PlPeselRecognizer, pr.EsNifRecognizer, pr.EsNieRecognizer, pr.EsPassportRecognizer,
    pr.FiPersonalIdentityCodeRecognizer, pr.SePersonnummerRecognizer, pr.SeOrganisationsnummerRecognizer,
    pr.UkNinoRecognizer, pr.NhsRecognizer, pr.UkPassportRecognizer, pr.UkDrivingLicenceRecognizer,
    pr.UkPostcodeRecognizer, pr.UkVehicleRegistrationRecognizer,
)

# Presidio entity -> benchmark type. Identifiers of a person map to NATIONAL_ID; identifiers of firms,
# vehicles and places are outside the benchmark's types and are ignored (neither hit nor false positive).
TYPE_MAP = {
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IBAN_CODE": "IBAN", "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
}
PERSONAL_IDS = {
    "DE_TAX_ID", "DE_SOCIAL_SECURITY", "DE_ID_CARD", "DE_PASSPORT", "DE_HEALTH_INSURANCE",
    "DE_FUEHRERSCHEIN", "DE_TAX_NUMBER", "IT_FISCAL_CODE", "IT_IDENTITY_CARD", "IT_PASSPORT",
    "IT_DRIVER_LICENSE", "PL_PESEL", "ES_NIF", "ES_NIE", "ES_PASSPORT", "FI_PERSONAL_IDENTITY_CODE",
    "SE_PERSONNUMMER", "UK_NINO", "UK_NHS", "UK_PASSPORT", "UK_DRIVING_LICENCE",
}


def build() -> AnalyzerEngine:
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "no_op",
        "models": [{"lang_code": lang, "model_name": "no_op"} for lang in LANGUAGES],
    })
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    for lang in LANGUAGES:
        for cls in RECOGNIZERS:
            registry.add_recognizer(cls(supported_language=lang))
        registry.add_recognizer(pr.PhoneRecognizer(supported_language=lang, supported_regions=PHONE_REGIONS))
    return AnalyzerEngine(registry=registry, nlp_engine=provider.create_engine(),
                          supported_languages=list(LANGUAGES), default_score_threshold=0)


def map_type(entity: str, dates_as_birth: bool) -> str | None:
    if entity in TYPE_MAP:
        return TYPE_MAP[entity]
    if entity in PERSONAL_IDS:
        return "NATIONAL_ID"
    if entity == "DATE_TIME" and dates_as_birth:
        return "DATE_OF_BIRTH"
    return None


def analyze(engine: AnalyzerEngine, text: str, language: str, dates_as_birth: bool) -> list[dict]:
    out = []
    for r in engine.analyze(text=text, language=language, score_threshold=0):
        mapped = map_type(r.entity_type, dates_as_birth)
        if mapped:
            out.append({"start": r.start, "end": r.end, "type": mapped, "subtype": r.entity_type,
                        "score": r.score})
    return out
