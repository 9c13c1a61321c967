"""The dev IdP's login page: pick or type a test NRN; loudly not for production.

Server-rendered HTML without scripts or inline styles (the page's CSP forbids both),
in the language the client asked for (`ui_locales`) or the browser's, every value
escaped. The test citizens offered are the ones `statuspass demo` seeds.
"""

from __future__ import annotations

import random
from html import escape

from app.auth.dev_request import AuthorizationRequest
from app.tokens import generate_nrn

__all__ = ["DEMO_PEOPLE", "DEMO_SEED", "demo_citizens", "error_page", "login_page", "pick_lang"]

DEMO_PEOPLE = [("Jan", "Peeters"), ("Marie", "Dubois"), ("Lukas", "Schmitz")]
DEMO_SEED = 2026
LANGS = ("nl", "fr", "de", "en")

_T: dict[str, dict[str, str]] = {
    "en": {
        "title": "Development login",
        "banner": "Development only — not for production.",
        "banner2": "Anyone can log in as anyone here. This page stands in for the e-ID.",
        "label": "National register number",
        "hint": "11 digits; dots, dashes and spaces are ignored.",
        "login": "Log in",
        "cancel": "Cancel",
        "pick": "Or pick a test citizen (seeded by statuspass demo)",
        "invalid": "This is not a valid national register number.",
        "missing": "Type a national register number or pick a test citizen.",
        "error_title": "This login request cannot be served",
    },
    "nl": {
        "title": "Ontwikkelaarslogin",
        "banner": "Alleen voor ontwikkeling — niet voor productie.",
        "banner2": "Hier kan iedereen zich als om het even wie aanmelden. "
        "Deze pagina vervangt de eID.",
        "label": "Rijksregisternummer",
        "hint": "11 cijfers; punten, streepjes en spaties worden genegeerd.",
        "login": "Aanmelden",
        "cancel": "Annuleren",
        "pick": "Of kies een testburger (aangemaakt door statuspass demo)",
        "invalid": "Dit is geen geldig rijksregisternummer.",
        "missing": "Typ een rijksregisternummer of kies een testburger.",
        "error_title": "Deze loginaanvraag kan niet worden behandeld",
    },
    "fr": {
        "title": "Connexion de développement",
        "banner": "Développement uniquement — pas pour la production.",
        "banner2": "Ici, chacun peut se connecter sous n'importe quelle identité. "
        "Cette page remplace l'eID.",
        "label": "Numéro de registre national",
        "hint": "11 chiffres ; les points, tirets et espaces sont ignorés.",
        "login": "Se connecter",
        "cancel": "Annuler",
        "pick": "Ou choisissez un citoyen de test (créé par statuspass demo)",
        "invalid": "Ce n'est pas un numéro de registre national valide.",
        "missing": "Tapez un numéro de registre national ou choisissez un citoyen de test.",
        "error_title": "Cette demande de connexion ne peut pas être traitée",
    },
    "de": {
        "title": "Entwicklungs-Anmeldung",
        "banner": "Nur für die Entwicklung — nicht für den Produktivbetrieb.",
        "banner2": "Hier kann sich jeder als jeder anmelden. Diese Seite ersetzt die eID.",
        "label": "Nationalregisternummer",
        "hint": "11 Ziffern; Punkte, Bindestriche und Leerzeichen werden ignoriert.",
        "login": "Anmelden",
        "cancel": "Abbrechen",
        "pick": "Oder wählen Sie einen Testbürger (angelegt von statuspass demo)",
        "invalid": "Das ist keine gültige Nationalregisternummer.",
        "missing": "Geben Sie eine Nationalregisternummer ein oder wählen Sie einen Testbürger.",
        "error_title": "Diese Anmeldeanfrage kann nicht bearbeitet werden",
    },
}


def demo_citizens(rng: random.Random) -> list[tuple[str, str, str]]:
    """(given name, family name, NRN) of the demo's citizens, drawn from `rng`."""
    return [(given, family, generate_nrn(rng)) for given, family in DEMO_PEOPLE]


def pick_lang(ui_locales: str | None, accept_language: str) -> str:
    """The first of nl/fr/de/en in the client's `ui_locales`, else the browser's."""
    wanted = (ui_locales or "").split() + [p.split(";")[0] for p in accept_language.split(",")]
    for tag in wanted:
        primary = tag.strip().lower()[:2]
        if primary in LANGS:
            return primary
    return "en"


def _grouped(nrn: str) -> str:
    return f"{nrn[:2]}.{nrn[2:4]}.{nrn[4:6]}-{nrn[6:9]}.{nrn[9:]}"


def _head(lang: str, title: str) -> str:
    return (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} — Statuspass</title>\n"
        # an empty icon: no request for a /favicon.ico that does not exist
        '<link rel="icon" href="data:,">\n<link rel="stylesheet" href="login.css">\n'
        "</head>\n<body>\n"
    )


def _banner(t: dict[str, str]) -> str:
    return (
        f'<p class="danger"><strong>⚠ {escape(t["banner"])}</strong> {escape(t["banner2"])}</p>\n'
    )


def login_page(
    req: AuthorizationRequest,
    lang: str,
    citizens: list[tuple[str, str, str]],
    *,
    error: str | None = None,
    typed: str = "",
) -> str:
    """The login form; `error` is "invalid" or "missing" after a failed attempt."""
    t = _T[lang]
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">\n'
        for k, v in req.form_fields().items()
    )
    described = "nrn-hint nrn-error" if error else "nrn-hint"
    invalid = ' aria-invalid="true"' if error else ""
    error_html = f'<p id="nrn-error" class="error">{escape(t[error])}</p>\n' if error else ""
    picks = "".join(
        f'<li><input type="radio" name="pick" id="pick-{i}" value="{escape(nrn)}">'
        f'<label for="pick-{i}">{escape(given)} {escape(family)} '
        f'<span class="nrn">{escape(_grouped(nrn))}</span></label></li>\n'
        for i, (given, family, nrn) in enumerate(citizens)
    )
    return (
        _head(lang, t["title"])
        + "<main>\n"
        + _banner(t)
        + f"<h1>{escape(t['title'])}</h1>\n"
        + '<form method="post" action="login">\n'
        + hidden
        + '<div class="field">\n'
        + f'<label for="nrn">{escape(t["label"])}</label>\n'
        + f'<p id="nrn-hint" class="hint">{escape(t["hint"])}</p>\n'
        + error_html
        + f'<input id="nrn" name="nrn" type="text" inputmode="numeric" autocomplete="off" '
        f'spellcheck="false" maxlength="20" value="{escape(typed)}" '
        f'aria-describedby="{described}"{invalid} autofocus>\n'
        + "</div>\n"
        + f"<fieldset>\n<legend>{escape(t['pick'])}</legend>\n<ul>\n{picks}</ul>\n</fieldset>\n"
        + '<div class="actions">\n'
        + f'<button type="submit" name="action" value="login">{escape(t["login"])}</button>\n'
        + f'<button type="submit" name="action" value="cancel" class="secondary">'
        f"{escape(t['cancel'])}</button>\n" + "</div>\n</form>\n</main>\n</body>\n</html>\n"
    )


def error_page(lang: str, description: str) -> str:
    """A refusal that cannot go back to the client (unknown client or redirect URI)."""
    t = _T[lang]
    return (
        _head(lang, t["error_title"])
        + "<main>\n"
        + _banner(t)
        + f"<h1>{escape(t['error_title'])}</h1>\n"
        + f'<p class="error">{escape(description)}</p>\n'
        + "</main>\n</body>\n</html>\n"
    )
