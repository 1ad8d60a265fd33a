"""Hand-written templates for the PII benchmark corpus, per language and domain.

Slots that are personal data (gold spans): {name} full name, {surname} surname alone, {email}, {phone},
{iban}, {card}, {nid} national identifier (with its scheme label where people write one), {address}, {ip},
{dob}; {nidlabel} is the scheme's usual name. Slots that look alike but are not personal data (hard negatives): {invoice}, {order}, {amount},
{date}, {badiban}, {badcard}, {badid}, {ref}, {company}, {version}, {qty}.
"""

from __future__ import annotations

TEMPLATES: dict[str, list[str]] = {
    "de": [
        # claims
        "Sehr geehrte Damen und Herren, ich melde einen Wasserschaden in meiner Wohnung {address}. "
        "Versicherungsnehmer ist {name}, erreichbar unter {phone}.",
        "Schadenmeldung zur Police {ref}: Der Unfall ereignete sich am {date}. Fahrer war Herr {surname}, "
        "geb. {dob}. Bitte Rückruf unter {phone}.",
        # invoices / bank transfers
        "Bitte überweisen Sie den Betrag von {amount} bis zum {date} auf das Konto {iban} (Kontoinhaber: {name}). "
        "Verwendungszweck: Rechnung {invoice}.",
        "Hallo Team, die Gutschrift für {name} wurde auf {iban} gebucht. Die Karte {card} wurde gesperrt.",
        # tickets
        "Ticket {ref}: Kunde {name} ({email}) kann sich seit Version {version} nicht mehr anmelden. "
        "Letzter Login von IP {ip}.",
        "Der Zugriff von {ip} wurde blockiert. Betroffenes Konto: {email}. Bitte prüfen.",
        # HR
        "Liebe Kolleginnen und Kollegen, ab dem {date} verstärkt {name} unser Team in der Buchhaltung. "
        "{nidlabel} für die Lohnabrechnung: {nid}.",
        "Personalakte: {name}, wohnhaft {address}, {nidlabel} {nid}, E-Mail {email}.",
        # medical
        "Arztbrief: Patientin {name}, geboren am {dob}, stellte sich mit Schmerzen im Knie vor. "
        "Kontrolltermin am {date}.",
        "Befund für Herrn {surname} (geb. {dob}) an die Hausarztpraxis gesendet; Rückfragen an {email}.",
        "Mit freundlichen Grüßen\n{name}\nTel. {phone}",
        "Anna aus dem Vertrieb meinte, {name} habe die Bestellung {order} storniert.",
    ],
    "fr": [
        "Madame, Monsieur, je déclare un sinistre survenu à mon domicile, {address}. Assuré : {name}, "
        "joignable au {phone}.",
        "Dossier {ref} : l'accident a eu lieu le {date}. Le conducteur, M. {surname}, né le {dob}, "
        "demande à être rappelé au {phone}.",
        "Merci de virer {amount} avant le {date} sur le compte {iban} au nom de {name}. Référence : facture {invoice}.",
        "Bonjour, le remboursement de {name} a été effectué sur {iban}. La carte {card} a été bloquée.",
        "Ticket {ref} : le client {name} ({email}) ne peut plus se connecter depuis la version {version}. "
        "Dernière connexion depuis l'adresse IP {ip}.",
        "Accès refusé pour {ip}. Compte concerné : {email}.",
        "Bonjour à tous, à partir du {date}, {name} rejoint l'équipe comptable. "
        "{nidlabel} : {nid}.",
        "Fiche salarié : {name}, domicilié {address}, {nidlabel} {nid}, courriel {email}.",
        "Compte rendu : la patiente {name}, née le {dob}, a consulté pour des douleurs au genou. "
        "Prochain rendez-vous le {date}.",
        "Résultats envoyés à Mme {surname} (née le {dob}) ; pour toute question : {email}.",
        "Cordialement,\n{name}\nTél. {phone}",
        "Selon le service client, {name} a annulé la commande {order}.",
    ],
    "it": [
        "Spettabile compagnia, denuncio un sinistro nella mia abitazione in {address}. Assicurato: {name}, "
        "telefono {phone}.",
        "Pratica {ref}: l'incidente è avvenuto il {date}. Il conducente, Sig. {surname}, nato il {dob}, "
        "chiede di essere richiamato al {phone}.",
        "Si prega di bonificare {amount} entro il {date} sul conto {iban} intestato a {name}. Causale: fattura {invoice}.",
        "Buongiorno, il rimborso per {name} è stato accreditato su {iban}. La carta {card} è stata bloccata.",
        "Ticket {ref}: il cliente {name} ({email}) non riesce ad accedere dalla versione {version}. "
        "Ultimo accesso dall'IP {ip}.",
        "Accesso negato per {ip}. Account interessato: {email}.",
        "Cari colleghi, dal {date} {name} entra a far parte dell'ufficio contabilità. Codice fiscale: {nid}.",
        "Scheda dipendente: {name}, residente in {address}, codice fiscale {nid}, e-mail {email}.",
        "Referto: la paziente {name}, nata il {dob}, lamenta dolore al ginocchio. Controllo il {date}.",
        "Esiti inviati alla Sig.ra {surname} (nata il {dob}); per domande scrivere a {email}.",
        "Cordiali saluti,\n{name}\nTel. {phone}",
        "Secondo il servizio clienti, {name} ha annullato l'ordine {order}.",
    ],
    "es": [
        "Muy señores míos: comunico un siniestro en mi vivienda, {address}. Asegurado: {name}, teléfono {phone}.",
        "Expediente {ref}: el accidente ocurrió el {date}. El conductor, Sr. {surname}, nacido el {dob}, "
        "solicita que le llamen al {phone}.",
        "Les ruego transfieran {amount} antes del {date} a la cuenta {iban} a nombre de {name}. Concepto: factura {invoice}.",
        "Hola, el reembolso de {name} se ha abonado en {iban}. La tarjeta {card} ha sido bloqueada.",
        "Ticket {ref}: el cliente {name} ({email}) no puede iniciar sesión desde la versión {version}. "
        "Último acceso desde la IP {ip}.",
        "Acceso denegado para {ip}. Cuenta afectada: {email}.",
        "Estimados compañeros: a partir del {date}, {name} se incorpora al departamento de contabilidad. {nidlabel}: {nid}.",
        "Ficha de empleado: {name}, con domicilio en {address}, documento {nid}, correo {email}.",
        "Informe: la paciente {name}, nacida el {dob}, acude por dolor de rodilla. Revisión el {date}.",
        "Resultados enviados a la Sra. {surname} (fecha de nacimiento {dob}); dudas a {email}.",
        "Atentamente,\n{name}\nTel. {phone}",
        "Según atención al cliente, {name} canceló el pedido {order}.",
    ],
    "nl": [
        "Geachte heer/mevrouw, ik meld waterschade in mijn woning aan {address}. Verzekerde: {name}, "
        "bereikbaar op {phone}.",
        "Dossier {ref}: het ongeval vond plaats op {date}. De bestuurder, dhr. {surname}, geboren op {dob}, "
        "vraagt om teruggebeld te worden op {phone}.",
        "Gelieve {amount} vóór {date} over te maken naar rekening {iban} t.n.v. {name}. Omschrijving: factuur {invoice}.",
        "Hallo, de terugbetaling voor {name} is gestort op {iban}. De kaart {card} is geblokkeerd.",
        "Ticket {ref}: klant {name} ({email}) kan sinds versie {version} niet meer inloggen. "
        "Laatste login vanaf IP {ip}.",
        "Toegang geweigerd voor {ip}. Betrokken account: {email}.",
        "Beste collega's, vanaf {date} versterkt {name} ons team op de boekhouding. {nidlabel}: {nid}.",
        "Personeelsdossier: {name}, woonachtig {address}, {nidlabel} {nid}, e-mail {email}.",
        "Verslag: patiënte {name}, geboren {dob}, meldt zich met knieklachten. Controle op {date}.",
        "Uitslag verstuurd naar mevr. {surname} (geboortedatum {dob}); vragen via {email}.",
        "Met vriendelijke groet,\n{name}\nTel. {phone}",
        "Volgens de klantenservice heeft {name} bestelling {order} geannuleerd.",
    ],
    "pl": [
        "Szanowni Państwo, zgłaszam szkodę wodną w moim mieszkaniu, {address}. Ubezpieczony: {name}, "
        "telefon {phone}.",
        "Sprawa {ref}: wypadek miał miejsce {date}. Kierowca, Pan {surname}, urodzony {dob}, "
        "prosi o kontakt pod numerem {phone}.",
        "Proszę przelać {amount} do dnia {date} na rachunek {iban}, odbiorca: {name}. Tytuł: faktura {invoice}.",
        "Dzień dobry, zwrot dla {name} został zaksięgowany na {iban}. Karta {card} została zablokowana.",
        "Zgłoszenie {ref}: klient {name} ({email}) nie może się zalogować od wersji {version}. "
        "Ostatnie logowanie z IP {ip}.",
        "Odmowa dostępu dla {ip}. Konto: {email}.",
        "Drodzy współpracownicy, od {date} do działu księgowości dołącza {name}. PESEL: {nid}.",
        "Kartoteka pracownika: {name}, zamieszkały {address}, numer PESEL {nid}, e-mail {email}.",
        "Karta wizyty: pacjentka {name}, data urodzenia {dob}, zgłasza ból kolana. Kontrola {date}.",
        "Wyniki wysłano do Pani {surname} (ur. {dob}); pytania proszę kierować na {email}.",
        "Z poważaniem,\n{name}\nTel. {phone}",
        "Według działu obsługi klienta {name} anulował zamówienie {order}.",
    ],
    "pt": [
        "Exmos. Senhores, participo um sinistro na minha habitação, {address}. Segurado: {name}, "
        "contacto {phone}.",
        "Processo {ref}: o acidente ocorreu em {date}. O condutor, Sr. {surname}, nascido em {dob}, "
        "pede que lhe liguem para o {phone}.",
        "Solicito a transferência de {amount} até {date} para a conta {iban}, titular {name}. Descrição: fatura {invoice}.",
        "Olá, o reembolso de {name} foi creditado em {iban}. O cartão {card} foi bloqueado.",
        "Pedido {ref}: o cliente {name} ({email}) não consegue entrar desde a versão {version}. "
        "Último acesso a partir do IP {ip}.",
        "Acesso negado para {ip}. Conta afetada: {email}.",
        "Caros colegas, a partir de {date} {name} junta-se à equipa de contabilidade. NIF: {nid}.",
        "Ficha de colaborador: {name}, residente em {address}, número de contribuinte {nid}, e-mail {email}.",
        "Relatório: a doente {name}, nascida em {dob}, apresenta dor no joelho. Consulta de controlo a {date}.",
        "Resultados enviados à Sra. {surname} (data de nascimento {dob}); dúvidas para {email}.",
        "Com os melhores cumprimentos,\n{name}\nTel. {phone}",
        "Segundo o apoio ao cliente, {name} cancelou a encomenda {order}.",
    ],
    "en": [
        "Dear Sir or Madam, I am reporting water damage at my flat, {address}. Policyholder: {name}, "
        "phone {phone}.",
        "Claim {ref}: the accident happened on {date}. The driver, Mr {surname}, born {dob}, "
        "asks to be called back on {phone}.",
        "Please transfer {amount} by {date} to account {iban} in the name of {name}. Reference: invoice {invoice}.",
        "Hi, the refund for {name} was credited to {iban}. Card {card} has been blocked.",
        "Ticket {ref}: customer {name} ({email}) cannot log in since version {version}. Last login from IP {ip}.",
        "Access denied for {ip}. Affected account: {email}.",
        "Dear colleagues, from {date} {name} joins the accounting team. Employee ID document: {nid}.",
        "Employee record: {name}, living at {address}, national ID {nid}, e-mail {email}.",
        "Clinic note: patient {name}, date of birth {dob}, presents with knee pain. Follow-up on {date}.",
        "Results sent to Ms {surname} (DOB {dob}); questions to {email}.",
        "Kind regards,\n{name}\nTel. {phone}",
        "According to customer service, {name} cancelled order {order}.",
    ],
}

# Records with no personal data, full of look-alikes.
NEGATIVE_TEMPLATES: dict[str, list[str]] = {
    "de": [
        "Rechnung {invoice} vom {date}: {qty} Stück Artikel {order}, Gesamtbetrag {amount}. Zahlbar bis {date}.",
        "Die Bestellnummer {badid} ist ungültig. Bitte prüfen Sie die IBAN {badiban} erneut.",
        "Die Testkarte {badcard} wurde abgelehnt. Vorgang {ref}, Release {version} von {company}.",
        "Bitte die Lieferung {order} an die Filiale in Hamburg senden; Liefertermin {date}.",
    ],
    "fr": [
        "Facture {invoice} du {date} : {qty} unités de l'article {order}, total {amount}. À régler avant le {date}.",
        "Le numéro de commande {badid} est invalide. Merci de vérifier l'IBAN {badiban}.",
        "La carte de test {badcard} a été refusée. Dossier {ref}, version {version} de {company}.",
        "Merci d'envoyer la livraison {order} à l'agence de Lyon ; date prévue le {date}.",
    ],
    "it": [
        "Fattura {invoice} del {date}: {qty} pezzi dell'articolo {order}, totale {amount}. Scadenza {date}.",
        "Il numero d'ordine {badid} non è valido. Si prega di ricontrollare l'IBAN {badiban}.",
        "La carta di prova {badcard} è stata rifiutata. Pratica {ref}, versione {version} di {company}.",
        "Inviare la spedizione {order} alla filiale di Torino; consegna prevista il {date}.",
    ],
    "es": [
        "Factura {invoice} del {date}: {qty} unidades del artículo {order}, total {amount}. Vence el {date}.",
        "El número de pedido {badid} no es válido. Por favor revise el IBAN {badiban}.",
        "La tarjeta de prueba {badcard} fue rechazada. Expediente {ref}, versión {version} de {company}.",
        "Envíen el pedido {order} a la sucursal de Sevilla; entrega prevista el {date}.",
    ],
    "nl": [
        "Factuur {invoice} van {date}: {qty} stuks artikel {order}, totaal {amount}. Te betalen vóór {date}.",
        "Het bestelnummer {badid} is ongeldig. Controleer het IBAN {badiban} opnieuw.",
        "De testkaart {badcard} is geweigerd. Dossier {ref}, versie {version} van {company}.",
        "Stuur zending {order} naar de vestiging in Utrecht; levering op {date}.",
    ],
    "pl": [
        "Faktura {invoice} z dnia {date}: {qty} szt. artykułu {order}, razem {amount}. Termin płatności {date}.",
        "Numer zamówienia {badid} jest nieprawidłowy. Proszę sprawdzić IBAN {badiban}.",
        "Karta testowa {badcard} została odrzucona. Sprawa {ref}, wersja {version} firmy {company}.",
        "Proszę wysłać przesyłkę {order} do oddziału w Krakowie; dostawa {date}.",
    ],
    "pt": [
        "Fatura {invoice} de {date}: {qty} unidades do artigo {order}, total {amount}. Pagamento até {date}.",
        "O número de encomenda {badid} é inválido. Verifique novamente o IBAN {badiban}.",
        "O cartão de teste {badcard} foi recusado. Processo {ref}, versão {version} da {company}.",
        "Enviem a encomenda {order} para a filial do Porto; entrega prevista a {date}.",
    ],
    "en": [
        "Invoice {invoice} dated {date}: {qty} units of item {order}, total {amount}. Due by {date}.",
        "Order number {badid} is invalid. Please check the IBAN {badiban} again.",
        "Test card {badcard} was declined. Case {ref}, release {version} of {company}.",
        "Please ship consignment {order} to the Leeds branch; delivery on {date}.",
    ],
}

MONTHS: dict[str, list[str]] = {
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
    "nl": "januari februari maart april mei juni juli augustus september oktober november december".split(),
    "pl": "stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia".split(),
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro".split(),
    "en": "January February March April May June July August September October November December".split(),
}
