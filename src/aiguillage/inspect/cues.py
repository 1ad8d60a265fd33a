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
    """Match any of `words` at the start of a word ('tel' in 'Tel.:' but not in 'Bestellung').

    The words form a prefix tree ('te(?:l(?:efon)?|rug)'): Python's regex engine tries a hundred flat
    alternatives one by one at every offset, a tree gives up on an offset after a character or two. At each
    offset the longest word wins, as with a flat alternation sorted longest first."""
    return re.compile(r"(?<![^\W\d_])" + _trie(words), re.IGNORECASE)


def _trie(words: tuple[str, ...]) -> str:
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if len(branches) > 1:
            body = "(?:" + "|".join(branches) + ")"
        else:
            body = "(?:" + branches[0] + ")" if "" in node else branches[0]
        return body + "?" if "" in node else body  # greedy: the longer word is tried first

    return build(root)


class _Matcher:
    """compile_words(), plus a case-sensitive twin for ASCII text: there lowercasing is exactly what
    IGNORECASE does, and literal comparisons are cheaper than case-folding ones. (Beyond ASCII, IGNORECASE
    also folds 'ſ' into 's' or 'K' into 'k', so such text keeps the IGNORECASE pattern.)"""

    __slots__ = ("ascii", "general")

    def __init__(self, words: tuple[str, ...]) -> None:
        self.general = compile_words(words)
        self.ascii = re.compile(r"(?<![A-Za-z])" + _trie(tuple(w.lower() for w in words)))

    def pattern_for(self, haystack: str) -> tuple[re.Pattern[str], str]:
        if haystack.isascii():
            return self.ascii, haystack.lower()
        return self.general, haystack


_COMPILED: dict[tuple[str, ...], _Matcher] = {}


def _matcher(words: tuple[str, ...]) -> _Matcher:
    matcher = _COMPILED.get(words)
    if matcher is None:
        matcher = _COMPILED.setdefault(words, _Matcher(words))
    return matcher


def has_any(haystack: str, words: tuple[str, ...]) -> bool:
    pattern, text = _matcher(words).pattern_for(haystack)
    return pattern.search(text) is not None


def _last(haystack: str, words: tuple[str, ...]) -> int:
    pattern, text = _matcher(words).pattern_for(haystack)
    last = -1
    for m in pattern.finditer(text):
        last = m.start()
    return last


def nearest_label_is_negative(text: str, start: int) -> bool:
    """True when the closest label before a number is an invoice/order word rather than a phone word."""
    window = before(text, start, 32)
    return label_is_negative(window, has_any(window, PHONE))


def label_is_negative(window: str, has_phone_word: bool) -> bool:
    """nearest_label_is_negative() on a window from before(text, start, 32) whose phone words are known."""
    negative = _last(window, NEGATIVE)
    return negative >= 0 and (not has_phone_word or negative > _last(window, PHONE))


# Characters that IGNORECASE matches to a different character of the vocabularies above even in
# lowercased text ('ı' to 'i', 'ſ' to 's'); tests/inspect/test_fast_paths.py checks every code point.
_CASE_FOLD = str.maketrans({"ı": "i", "ſ": "s"})


def fold(lowered: str) -> str:
    """Lowercased text as IGNORECASE compares it, for mentions()."""
    if not lowered.isascii() and ("ı" in lowered or "ſ" in lowered):
        return lowered.translate(_CASE_FOLD)
    return lowered


def mentions(folded: str, words: tuple[str, ...]) -> bool:
    """Whether any of `words` occurs anywhere in `folded` (the whole prompt, lowercased, then fold()ed).
    When none does, has_any(before(text, …), words) is False for every window of that prompt, so a detector
    can skip the candidates that would need one of these words without looking at each one's window."""
    return any(w in folded for w in words)


def word_ends(lowered: str, words: tuple[str, ...]) -> list[int]:
    """End offsets of `words` found at a word start in already-lowercased text, in order.

    str.find is far cheaper than one big case-insensitive alternation tried at every offset; words sharing
    their first three characters ('nato il', 'nata a', …: 'nat') share one find."""
    ends = []
    for key, group in _by_prefix(words):
        i = lowered.find(key)
        while i != -1:
            if i == 0 or not lowered[i - 1].isalpha():
                for w in group:
                    if lowered.startswith(w, i):
                        ends.append(i + len(w))
            i = lowered.find(key, i + 1)
    return sorted(ends)


_PREFIX_GROUPS: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = {}


def _by_prefix(words: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    groups = _PREFIX_GROUPS.get(words)
    if groups is None:
        by_key: dict[str, list[str]] = {}
        for w in words:
            by_key.setdefault(w[:3], []).append(w)
        groups = _PREFIX_GROUPS.setdefault(words, [(key, tuple(ws)) for key, ws in by_key.items()])
    return groups
