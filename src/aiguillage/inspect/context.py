"""Context detectors: PERSON and ADDRESS, which have no fixed shape and need surrounding words.

PERSON: a run of capitalised words is a name when a title, salutation or field label introduces it
("Frau Dr. Weber", "Bonjour Mme Dupont", "Nombre: Lucía Gómez") or when it starts with a known first name
(lexicon from `gender-guesser`, see names.py) and is followed by a surname.
ADDRESS: a street (street-type word before or after the name, as each language writes it) with a house
number, optionally followed by a postcode in the national format and a town.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiguillage.inspect.entity import ADDRESS, PERSON, Entity
from aiguillage.inspect.names import STOPWORDS, is_first_name

_UP = "A-ZÀ-ÖØ-ÞĄĆĘŁŃŚŹŻŠŽČŘŐŰ"
_LOW = "a-zß-öø-ÿąćęłńśźżšžčřőűœ"
_WORD = rf"(?:[{_UP}][{_LOW}]+|Mc[{_UP}][{_LOW}]+|O['’][{_UP}][{_LOW}]+)"
_CAP = rf"{_WORD}(?:-{_WORD})*"
# 'der'/'den' only inside 'van der', 'von den', …: alone they are German articles ('… den Eingang').
_PARTICLE = (r"(?:(?:van|von)(?: (?:der|den|dem|de|het))?|de(?: la| los| las)?|del|della|di|da|dos|das|do|du|"
             r"des|la|le|ten|ter|zu|y|e|'t|d['’])")
_RUN = re.compile(rf"(?:{_PARTICLE}[ \u00a0])*{_CAP}(?:[ \u00a0](?:{_PARTICLE}[ \u00a0])*{_CAP}){{0,4}}")
# A run followed by a company form is a firm, even when it starts with a first name
# ('Vicente Jesus e Filhos').
_COMPANY = re.compile(
    r"[ ,]*(?:&|und|et|e|y|en|i|and)?[ ]*"
    r"(?:GmbH|GesbR|AG|KG|OG|SE|e\.V\.|SA|S\.A\.T\.|S\.A\.|SL|S\.L\.|SpA|S\.p\.A\.|Srl|S\.r\.l\.|"
    r"SARL|SAS|BV|B\.V\.|NV|N\.V\.|Sp\.|Lda|Ltd|Inc|LLC|PLC|plc|Filhos|Hijos|Figli|Söhne|Zonen|Synowie|Fils|"
    r"SPA|S\.Coop\.|S\.L\.L\.|S\.L\.N\.E\.|CommV|Comm\.V\.|BVBA|VOF|S/A|SCA|SNC|GbR|UG|mbH|OHG|S\.C\.|"
    r"Sons|Co\.?|Group|Gruppe|Groupe|Gruppo|Grupo|Partners|Partner|Associates)(?![\w])"
)

_TITLES = (
    r"Herrn?|Frau|Hr\.|Fr\.|Dr\.|Prof\.|Dipl\.-Ing\.|Mag\.|M\.|Mme|Mlle|Monsieur|Madame|Mademoiselle|Me|"
    r"Ma[îi]tre|Sig\.(?:ra|na)?|Sigg?\.|Signor[ae]?|Dott\.(?:ssa)?|Avv\.|Ing\.|Sr\.|Sra\.|Srta\.|D\.|Dña\.|"
    r"Don|Doña|[Dd]hr\.|[Mm]evr\.|[Mm]w\.|Mej\.|Pan(?:i|u|ią|a)?|Exm[oa]\.|Mr\.?|Mrs\.?|Ms\.?|Miss|Mister"
)
# Greetings introduce a name less reliably ('Hallo Team'): the next word must be a known first name.
_GREETINGS = (
    r"Dear|Liebe[r]?|Hallo|Hello|Hi|Bonjour|Cher|Ch[èe]re|Ciao|Buongiorno|Gentile|Egregio|Car[oa]|Hola|"
    r"Estimad[oa]|Querid[oa]|Ol[aá]|Prezad[oa]|Beste|Geachte|Szanown[ya]|Dzień dobry|Witam"
)
_LABELS = (
    r"Name|Vorname|Nachname|Patient(?:in)?|Kontoinhaber(?:in)?|Mitarbeiter(?:in)?|Versicherte[r]?|Kunde|"
    r"Antragsteller(?:in)?|Ansprechpartner(?:in)?|Nom|Prénom|Patient\(?e?\)?|Titulaire|Assuré\(?e?\)?|Client|"
    r"Demandeur|Salarié\(?e?\)?|Interlocuteur|Nome|Cognome|Paziente|Intestatario|Dipendente|Richiedente|"
    r"Cliente|Assicurato|Nombre|Apellidos?|Paciente|Titular|Emplead[oa]|Solicitante|Asegurad[oa]|Naam|"
    r"Patiënt|Rekeninghouder|Medewerker|Klant|Aanvrager|Verzekerde|Imię(?: i nazwisko)?|Nazwisko|"
    r"Pacjent(?:ka)?|"
    r"Właściciel(?:ka)?|Pracownik|Klient(?:ka)?|Wnioskodawca|Ubezpieczony|Utente|Trabalhador(?:a)?|"
    r"Requerente|Segurad[oa]|Employee|Patient|Account holder|Customer|Applicant|Insured|Contact|Kontakt|"
    r"Contatto|Contacto|Contactpersoon|Osoba kontaktowa|Beneficiary|Begünstigter|Bénéficiaire|Beneficiario|"
    r"Begunstigde|Odbiorca|Beneficiário|Empfänger|Destinataire|Destinatario|Ontvanger|Destinatário|"
    r"Signed|Unterschrift|Signature|Firma|Handtekening|Podpis|Assinatura|Arzt|Médecin|Medico|Médico|Arts|"
    r"Lekarz"
)
_SIGNOFFS = (
    r"Mit freundlichen Grüßen|Viele Grüße|Beste Grüße|Freundliche Grüße|Cordialement|Bien à vous|"
    r"Salutations|Cordiali saluti|Distinti saluti|Saluti|Un saluto|Atentamente|Saludos|Un saludo|"
    r"Met vriendelijke groet(?:en)?|Groeten|Hartelijke groet|Z poważaniem|Pozdrawiam|Atenciosamente|"
    r"Cumprimentos|Com os melhores cumprimentos|Best regards|Kind regards|Regards|Sincerely|Thanks|Cheers"
)
_CUE = re.compile(
    rf"(?:(?<![\w.])(?:{_TITLES})(?:[ \u00a0]+(?:{_TITLES}))*[ \u00a0]+"
    rf"|(?<![\w])(?:{_LABELS})[ \u00a0]*(?:\([^)]*\))?[ \u00a0]*:[ \u00a0]*"
    rf"|(?<![\w])(?:{_SIGNOFFS})[,!.]?[ \u00a0]*\r?\n[ \u00a0]*)$"
)
_GREETING = re.compile(rf"(?<![\w])(?:{_GREETINGS}),?[ \u00a0]+$")


_TITLE_WORD = re.compile(rf"(?:{_TITLES})")
_GREETING_WORD = re.compile(rf"(?:{_GREETINGS})")


def find_persons(text: str) -> Iterator[Entity]:
    for m in _RUN.finditer(text):
        if _COMPANY.search(text, m.start(), min(len(text), m.end() + 12)):
            continue
        words = list(re.finditer(r"\S+", m.group()))
        for i, word in enumerate(words):
            start, value = m.start() + word.start(), word.group()
            if _TITLE_WORD.fullmatch(value) or _TITLE_WORD.fullmatch(value + "."):
                continue  # part of the cue ('Bonjour Mme Dupont'): the name starts after it
            if _GREETING_WORD.fullmatch(value.rstrip(",")):
                continue
            known = is_first_name(value.split("-")[0])
            # After a title the name may start with a particle or article: 'Mme Le Gall', 'dhr. van Dijk'.
            if _cued(text, start, known):
                if any(not re.fullmatch(_PARTICLE, w.group(), re.IGNORECASE) for w in words[i:]):
                    yield _person(text, start, m.end(), 0.85)
                break
            if value.lower() in STOPWORDS:
                continue
            # No cue: a known first name followed by at least one more capitalised word (the surname).
            if known and i + 1 < len(words):
                yield _person(text, start, m.end(), 0.7)
                break


def _cued(text: str, start: int, known_first_name: bool) -> bool:
    window = max(0, start - 60)
    cue = _CUE.search(text, window, start)
    if cue:
        return True
    return known_first_name and _GREETING.search(text, window, start) is not None


def _person(text: str, start: int, end: int, score: float) -> Entity:
    start, end = _trim(text, start, end)
    return Entity(start, end, PERSON, None, score, text[start:end])


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop trailing particles ('… van') and cap the name at four words, which covers compound surnames."""
    words = list(re.finditer(r"\S+", text[start:end]))
    while words and re.fullmatch(_PARTICLE, words[-1].group()):
        words.pop()
    words = words[:5]
    return (start, start + words[-1].end()) if words else (start, start)


# --- addresses -------------------------------------------------------------------------------------

_NUM = r"(?:[Ss]/[Nn]|\d{1,5}(?:[ ]?[a-zA-Z](?![\w]))?(?:[ ]?[-/][ ]?\d{1,4}[a-zA-Z]?)?)"
_SW = rf"(?:[{_UP}][\w'’.\-]*|(?:de|del|della|delle|dei|degli|di|da|dos|das|do|du|des|la|le|les|el|los|las|"
_SW += r"y|e|van|von|der|den|am|an|of|the|d['’]|l['’]|sur|sous|aux|au)(?=[ ]))"
_STREET_WORDS = rf"{_SW}(?:[ ]{_SW}){{0,6}}"
_SUFFIX_TYPES = (
    r"straße|strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|chaussee|steig|pfad|markt|graben|"
    r"straat|laan|plein|gracht|kade|singel|dijk|dreef|steeg|pad|baan|hof|park|hoven|veld|plantsoen|"
    r"boulevard|lei|kaai|wal|vest|markt|"
    r"street|st\.|road|rd\.|avenue|ave\.|lane|drive|close|way|place|square|court|crescent|terrace|gardens|"
    r"grove|row|hill|mews|walk|green"
)
_PREFIX_TYPES = (
    r"rue|avenue|av\.|bd\.?|boulevard|place|chemin|impasse|allée|quai|route|cours|square|passage|voie|"
    r"faubourg|sentier|via|viale|piazza|piazzale|corso|largo|vicolo|contrada|strada|borgo|lungomare|"
    r"località|loc\.|frazione|salita|canale|rotonda|piazzetta|vico|stretto|incrocio|galleria|traversa|"
    r"calle|c/|c\.|avenida|avda\.|plaza|pza\.|paseo|camino|carretera|ctra\.|ronda|travesía|glorieta|"
    r"callejón|rambla|vía|urbanización|urb\.|cuesta|pasaje|alameda|cañada|acceso|pasadizo|ramal|vial|"
    r"polígono|"
    r"rua|r\.|av|travessa|tv\.|"
    r"praça|estrada|beco|calçada|praceta|bairro|quinta|caminho|azinhaga|viela|ul\.|ulica|al\.|aleja|pl\.|"
    r"plac|os\.|osiedle|rondo|skwer|bulwar|Straße|Weg|Allee|Platz|Ring|Gasse"
)
_POSTCODE = (
    r"(?:(?:D|F|I|E|NL|PL|P|A|B|L|CH)-)?(?:\d{5}|\d{4}[ ]?[A-Z]{2}(?![\w])|\d{2}-\d{3}|\d{4}-\d{3}|\d{4}|"
    r"[A-Z]{1,2}\d[A-Z\d]?[ ]\d[A-Z]{2})"
)
_CITY_PARTICLE = r"de|del|la|le|sur|am|an|der|im|aan|den|da|do|dos|das|di|in|upon|on"
_CITY = (rf"(?:['’]s-)?[{_UP}][\w'’\-]*(?:[ \-](?:[{_UP}][\w'’\-]*|{_CITY_PARTICLE})){{0,4}}"
         r"(?:[ ]\([A-Z]{2}\))?")
_TAIL = rf"(?:,?[ ]*(?:\r?\n[ ]*)?{_POSTCODE},?[ ]+{_CITY}|,[ ]*{_CITY},?[ ]+{_POSTCODE})"
_UNIT = (r"(?:,?[ ](?:Apt\.|Appartamento|Piano|Puerta|Piso|Esc\.|Stiege|Top|Wohnung|Whg\.|bus|boîte|m\.|"
         r"lok\.|Bloco|Andar)[ ]?\w{1,4})*")
_ADDRESS = re.compile(
    rf"(?<![\w])(?:"
    # number first: '12 rue de la Paix', '12, rue …', '415 Baker Street'
    rf"(?<![.,])\d{{1,4}}(?:[ ]?(?:bis|ter|[a-z]))?,?[ ](?i:{_PREFIX_TYPES})[ ]{_STREET_WORDS}"
    rf"|(?<![.,])\d{{1,4}}[ ][{_UP}]\S*(?:[ ]{_SW}){{0,5}}[ ](?i:{_SUFFIX_TYPES})(?![\w])"
    # type first: 'Via Roma, 12', 'ul. Kwiatowa 12/3', 'Calle de Alcalá 8'
    rf"|(?i:{_PREFIX_TYPES})[ ]{_STREET_WORDS},?[ ](?:n\.?[º°o]?[ ]?|nº[ ]?|no\.?[ ]?)?{_NUM}"
    # suffix: 'Mudeweg 4-2', 'Berliner Straße 5', 'Kerkstraat 12a'
    rf"|(?:[{_UP}][\w'’.\-]*[ ])?(?=[{_UP}])[\w'’\-]*?(?i:{_SUFFIX_TYPES})[ ]{_NUM}"
    rf"){_UNIT}{_TAIL}?(?![\w])"
    # any street name after a house number, when a postcode and town follow: '31 Connor Glens, Leeds LS1 4AP'
    rf"|(?<![\w.,])\d{{1,4}}[ ][{_UP}]\S*(?:[ ]{_SW}){{0,5}}{_TAIL}(?![\w])"
)


def find_addresses(text: str) -> Iterator[Entity]:
    for m in _ADDRESS.finditer(text):
        value = m.group().rstrip(" ,.")
        has_tail = bool(re.search(_POSTCODE + r",?[ ]+[" + _UP + "]", value))
        yield Entity(m.start(), m.start() + len(value), ADDRESS, None, 0.8 if has_tail else 0.6, value)
