"""Context words, per language, that raise or lower confidence in a nearby candidate.

Kept in one place so the vocabulary can be audited and extended without touching the matchers.
"""

from __future__ import annotations

import re

# Words after which a number is an invoice/order/reference, not a phone number or an identifier.
NEGATIVE = (
    "rechnung", "bestell", "auftrag", "kunden-nr", "kundennummer", "vorgang", "aktenzeichen", "artikel",
    "facture", "commande", "référence", "reference", "dossier n", "article", "invoice", "order", "ticket",
    "fattura", "ordine", "pratica", "riferimento", "factura", "pedido", "expediente", "referencia",
    "factuur", "bestelling", "bestel", "ordernummer",
    "klantnummer", "referentie", "kenmerk", "faktur", "zamówien", "zamowien", "nr ref",
    "fatura", "encomenda", "processo", "ref.", "ref:", "serial", "seriennummer", "sku", "lot", "case",
    "tracking", "sendung", "colis", "spedizione", "envío", "envio", "zending", "przesyłk", "contrato",
    "contract", "vertrag", "contrat", "contratto", "polic", "police", "polizza", "póliza", "umowa",
    "liefer", "livraison", "consegna", "entrega", "levering", "dostaw", "delivery", "shipment", "consignment",
    "karte", "carte", "card", "carta", "tarjeta", "kaart", "karta", "cartão", "cartao", "konto", "compte",
    "conto", "cuenta", "rekening", "rachunek", "account", "iban", "artikel", "item", "produkt", "product",
    "articol", "artículo", "articulo", "artigo", "artykuł", "artykul", "pezzi", "stück", "unités",
)

PHONE = (
    "tel", "phone", "mobile", "mobil", "handy", "fax", "ruf", "portable", "téléphone", "telefon",
    "cellulare", "cell", "móvil", "movil", "teléfono", "telefono", "telefoon", "gsm", "komórk", "komork",
    "telemóvel", "telemovel", "telefone", "contact", "kontakt", "contatto", "contacto", "call", "whatsapp",
    "bel ", "appel", "chiam", "llam", "zadzwo", "ligue", "erreichbar", "joignable", "reachable",
    "rückruf", "rappel", "richiam", "terug", "oddzwo", "bereikbaar", "raggiungibile", "localizable",
    "contactable",
)

BIRTH = (
    "geboren", "geb.", "geburt", "né le", "née le", "né(e)", "naissance", "nato il", "nata il", "nato a",
    "nata a", "nascita", "nacido", "nacida", "nacimiento", "f. nac", "geboortedatum", "geboren op",
    "urodzon", "urodzenia", "ur.", "nascido", "nascida", "nascimento", "born", "birth", "dob", "d.o.b",
)

CARD = (
    "karte", "card", "carte", "carta", "tarjeta", "kaart", "karta", "cartão", "cartao", "visa", "mastercard",
    "maestro", "amex", "kreditkarte", "creditcard", "cb ", "pan",
)

# Weak check digits (1 in 10 or 11 random numbers pass) are only trusted next to their scheme's name.
NATIONAL_ID_CONTEXT = {
    "PL_PESEL": ("pesel",),
    "NL_BSN": ("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer", "citizen service"),
    "PT_NIF": ("nif", "contribuinte", "número fiscal", "numero fiscal", "tax id", "tax number"),
    "AT_SVNR": ("sv-n", "svnr", "sozialversicherung", "versicherungsnummer", "social security", "e-card"),
}

_WINDOW = 64


def before(text: str, start: int, window: int = _WINDOW) -> str:
    """The lowercased text just before `start`, where labels such as 'Tel.:' or 'PESEL' sit."""
    return text[max(0, start - window) : start].lower()


def compile_words(words: tuple[str, ...]) -> re.Pattern[str]:
    """Match any of `words` at the start of a word ('tel' in 'Tel.:' but not in 'Bestellung')."""
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![^\W\d_])(?:{alternatives})", re.IGNORECASE)


_COMPILED: dict[tuple[str, ...], re.Pattern[str]] = {}


def has_any(haystack: str, words: tuple[str, ...]) -> bool:
    pattern = _COMPILED.get(words)
    if pattern is None:
        pattern = _COMPILED.setdefault(words, compile_words(words))
    return pattern.search(haystack) is not None


def _last(haystack: str, words: tuple[str, ...]) -> int:
    compile_words_cached = _COMPILED.get(words) or _COMPILED.setdefault(words, compile_words(words))
    return max((m.start() for m in compile_words_cached.finditer(haystack)), default=-1)


def nearest_label_is_negative(text: str, start: int) -> bool:
    """True when the closest label before a number is an invoice/order word rather than a phone word."""
    window = before(text, start, 32)
    return _last(window, NEGATIVE) > _last(window, PHONE)


def word_ends(lowered: str, words: tuple[str, ...]) -> list[int]:
    """End offsets of `words` found at a word start in already-lowercased text, in order.

    str.find per word is far cheaper than one big case-insensitive alternation tried at every offset."""
    ends = []
    for w in words:
        i = lowered.find(w)
        while i != -1:
            if i == 0 or not lowered[i - 1].isalpha():
                ends.append(i + len(w))
            i = lowered.find(w, i + 1)
    return sorted(ends)
