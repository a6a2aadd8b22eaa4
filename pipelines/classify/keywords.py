"""Keyword tiers for the `objet` text, their false-positive guards, and the text normalisation they rely on.

Patterns are written against normalised text: lower case, accents folded, apostrophes unified to ', dashes
to -, whitespace folded. Real DECP objets lose characters in transit, so the patterns also accept what was
seen in the AIFE sample: "linnovation"/"dexpérimentation" (apostrophe dropped, hence the optional glued
elision d/l/n/qu before vowel-initial words), "Appel d offres" (apostrophe turned into a space) and
"R�am�nagement" (U+FFFD where an accented letter was, mapped to "e", the commonest accented letter).

One alternation scans each text left to right; at a given position the first tier listed wins and its
match consumes the span. Guards come first, so "centre de recherche et d'innovation" is consumed by a guard
before "innovation" can count; strong phrases come before medium words, so "partenariat d'innovation"
counts once, as strong. A cheap RE2 prefilter on the raw text (pyarrow) spares the Python scan for the
great majority of rows, which carry none of the stems; tests check that it keeps every row the scan needs.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# --- normalisation -------------------------------------------------------------------------------------


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for cp in range(0xC0, 0x250):
        base = "".join(c for c in unicodedata.normalize("NFKD", chr(cp)) if not unicodedata.combining(c))
        if base and base != chr(cp) and base.isascii():
            table[cp] = base
    for cp in range(0x300, 0x370):  # combining marks left by NFD input
        table[cp] = None
    table.update({ord(k): v for k, v in {
        "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ø": "o", "Ø": "O", "ﬁ": "fi", "ﬂ": "fl",
        "\ufffd": "e", "\\": "",
    }.items()})
    table.update({ord(c): "'" for c in "\u2019\u2018\u201a\u201b`\u00b4\u02bc\u02b9\u2032"})
    table.update({ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"})
    table.update({ord(c): " " for c in "\u00a0\u202f\u2007\u2009\u200a\u2002\u2003"})
    table[0x200B] = None  # zero-width space splits words invisibly
    return table


_FOLD = _fold_table()
# The same mapping as a search for the characters it changes: str.translate looks every character up in the dict,
# where nearly all of them (ASCII letters) stay as they are; the search finds the few others (3x faster on objets).
_FOLDED = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(_FOLD)) + "]")


def _fold_one(match: re.Match) -> str:
    return _FOLD[ord(match.group())] or ""


def normalise(text: object) -> str:
    """Lower-cased, accent-folded, apostrophe/dash-unified, whitespace-folded text ("" for non-strings)."""
    if not isinstance(text, str):
        return ""
    if "&" in text:  # HTML entities left by some platforms: "R&amp;D", "d&#39;innovation"
        text = text.replace("&amp;", "&").replace("&#39;", "'").replace("&apos;", "'")
    return " ".join(_FOLDED.sub(_fold_one, text).lower().split())


# The bytes a character leaves in a text's *letters*: ``normalise``, then every character but a-z made a space. A
# character leaves at most as many bytes as its UTF-8 form has (checked when the table is built); 0xFF marks none.
_SPACE, _NONE = 0x20, 0xFF


@functools.lru_cache(maxsize=1)
def letter_table() -> np.ndarray:
    """Per code point of the Basic Multilingual Plane, the (up to three) bytes it leaves in the letters."""
    table = np.full((0x10000, 3), _NONE, dtype=np.uint8)
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates: never in UTF-8 text
        char = chr(cp)
        out = [ord(c) if "a" <= c <= "z" else _SPACE for c in (_FOLD.get(cp, char) or "").lower()]
        if len(out) > len(char.encode("utf-8")):
            raise AssertionError(f"U+{cp:04X} : plus de lettres que d'octets")
        table[cp, :len(out)] = out
    return table


def letters(texts: pa.Array) -> pa.Array:
    """Each text's letters (``normalise``, then every character but a-z a space), made from the texts' UTF-8 bytes
    with numpy, for texts without "&" (the HTML entities ``normalise`` decodes); ``texts``: large_string, no null.

    Where a token pattern only looks at runs of a-z, this stands for normalise at a tenth of its cost (most objets
    have accents, so folding them character by character in Python was a third of the text model's time). Each
    character's bytes come from one table built from normalise's own folding: what it folds, removes (marks
    joining the letters around them) or lowers (the Kelvin sign's "k"); outside the BMP, nothing is a letter.
    tests/test_classify.py compares both on every code point."""
    parts = [_letters_of(texts.slice(at, LETTERS_CHUNK_TEXTS)) for at in range(0, len(texts), LETTERS_CHUNK_TEXTS)]
    if not parts:
        return pa.array([], type=pa.large_string())
    ends = np.concatenate([[0]] + [part_ends[1:] for part_ends, _ in parts])
    ends[1:] += np.repeat(np.cumsum([0] + [len(data) for _, data in parts[:-1]]), [len(e) - 1 for e, _ in parts])
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(ends),
                                            pa.py_buffer(np.concatenate([data for _, data in parts])))


# Texts made into letters at a time: the work arrays of a few megabytes are reused, where arrays of a hundred
# megabytes would cost more in fresh pages of memory than in the work itself (measured: 3x slower).
LETTERS_CHUNK_TEXTS = 16_384


def _letters_of(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, bytes) of the letters of ``texts``."""
    _, offsets, data = texts.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[texts.offset:texts.offset + len(texts) + 1]
    first = int(bounds[0])
    raw = np.frombuffer(data, dtype=np.uint8)[first:int(bounds[-1])] if data is not None \
        else np.zeros(0, dtype=np.uint8)
    table = letter_table()
    # ASCII bytes through the table at once (bytes of other characters: none, until their first byte is read).
    out = table[:256, 0].copy()
    out[0x80:] = _NONE
    out = out[raw]
    # Other characters (a few percent of the bytes): their code point from their first bytes, then the table.
    padded = np.concatenate([raw, np.zeros(3, dtype=np.uint8)])
    starts = np.flatnonzero(raw >= 0xC0)
    head = raw[starts].astype(np.int32)
    follow = [padded[starts + k].astype(np.int32) & 0x3F for k in (1, 2)]
    two, three = head < 0xE0, (head >= 0xE0) & (head < 0xF0)
    code = np.where(two, (head & 0x1F) << 6 | follow[0], (head & 0x0F) << 12 | follow[0] << 6 | follow[1])
    for k, at in ((0, two | three), (1, two | three), (2, three)):
        out[starts[at] + k] = table[code[at], k]
    out[starts[head >= 0xF0]] = _SPACE  # beyond the BMP: no letter
    kept = out != _NONE
    # Each text's end moves back by the bytes removed before it (a few percent: no running count over every byte).
    ends = bounds - first
    ends = ends - np.searchsorted(np.flatnonzero(~kept), ends)
    return ends, out[kept]


# --- tiers -----------------------------------------------------------------------------------------------

# Elision written as d', d' , "d " or glued "d" (apostrophe lost).
_D = r"d(?:' ?| )?"
_L = r"l(?:' ?| )?"
# Elision glued to a vowel-initial word when the apostrophe was lost ("linnovation"). With the apostrophe
# the word itself starts a match, so a guard starting at that word still gets its chance first.
_ELIDED = r"(?:[dlnjs]|qu)?"

_PREP = rf"(?:de la |de {_L}|de |du |des |{_D}|a la |a {_L}|pour {_L}|en |aux |{_L})"

# Heads of names of entities, places, events and programmes that carry "innovation" or "R&D" in their name
# without the purchase being innovative ("Direction de l'innovation", "Trophées de l'innovation").
_ENTITY = (
    r"(?:direction|delegation|agence|pole|campus|maison|cite|institut|centre|laboratoire|labo|lab|departement"
    r"|bureau|cellule|parc|village|espace|batiment|immeuble|hotel|pepiniere|incubateur|technopole|ministere"
    r"|secretariat|vice-presidence|vice-president|directeur|directrice|cluster|reseau|fondation|salon|forum"
    r"|semaine|journee|festival|trophee|prix|concours|conference|colloque|seminaire|congres|rencontre|challenge"
    r"|label|appel a projets|fonds|ecosysteme|hub|club|comite|conseil|observatoire|chaire|referent"
    r"|charge de mission|territoire|quartier|zone)(?:s|x)?"
)
# Places where experiments happen: the purchase is for the place, not an experiment.
_PLACE = (
    r"(?:centre|station|site|zone|plate-?forme|plateau|unite|ferme|domaine|jardin|parcelle|batiment|laboratoire"
    r"|salle|animalerie|serre|parc|champ|bassin|halle|local|locaux)(?:s|x)?"
)
_COMPOUND = rf"(?: (?:de la|de {_L}|de|du|des|{_D}) ?[a-z-]+(?: [a-z-]+)?,? et)?"

GUARDS = [
    # Names: "Pôle innovation", "Agence de l'innovation de défense", "Centre de recherche et d'innovation",
    # "Direction générale de la recherche et de l'innovation", "Conférence R&D Management".
    rf"{_ENTITY}(?: [a-z-]+)?{_COMPOUND} {_PREP}?(?:innovations?(?! achats?)|recherches? et (?:de |du )?developpements?"
    r"|r ?& ?d(?![a-z0-9]))",
    # Ministry and EU programme names: "...de la recherche et de l'innovation", "recherche et innovation".
    rf"recherches?,? et (?:de |a )?(?:{_L}|{_D})?innovations?",
    # Themes of services about innovation, fixed regulatory terms.
    rf"{_ELIDED}innovations? (?:sociales?|manageriales?|participatives?|pedagogiques?|publiques?|en sante)",
    r"(?:medicaments? de )?therapies? innovantes?",
    # Award criteria and variants boilerplate.
    r"caracteres? (?:plus )?innovants?",
    r"(?:sous-)?criteres?[^.;]{0,60}?innov[a-z]*",
    r"valeur technique[^.;]{0,60}?innov[a-z]*",
    r"variantes?[^.;]{0,80}?innov[a-z]*",
    r"(?:solutions?|propositions?|offres?) innovantes? (?:proposees? |presentees? )?(?:en variantes?|par (?:le |les )?"
    r"(?:candidats?|soumissionnaires?|titulaires?|prestataires?))",
    # Training and events about innovation or innovative purchasing.
    rf"(?:formations?|sensibilisations?|webinaires?|seminaires?)(?: [a-z-]+){{0,3}}? "
    rf"(?:a {_L}|aux |sur {_L}|sur les |a la |au )"
    rf"(?:innovation|achats? (?:publics? )?innovants?|partenariats? {_D}innovation)",
    # Experimentation as a place or a lab practice.
    rf"{_PLACE}(?: [a-z-]+)? (?:{_D}|de {_L}|a {_L}|pour {_L})?experimentations?",
    rf"{_PLACE} experimenta(?:l|le|les|ux)",
    rf"recherches? et (?:a {_L}|de {_L}|{_L})?experimentations?",
    rf"{_ELIDED}experimentations? animales?",
    rf"{_ELIDED}anima(?:l|ux) {_D}experimentation",
    r"(?:medicaments?|produits?|traitements?) experimentaux",
    # Spaces for start-ups ("aménagement de plateaux pour l'accueil de startup").
    rf"(?:accueil|hebergement|incubat[a-z]*|pepinieres?|accelerateurs?|plateaux?|locaux|espaces?|campus|villages?"
    rf"|bureaux|hotels?|maisons?)(?: [a-z]+){{0,2}}? (?:de |des |pour |pour les |{_D}|aux )?start ?-?ups?",
    r"co-? ?developpements? (?:professionnel|personnel)s?",
]

STRONG = [
    rf"partenariats? (?:{_D})?innovation",
    r"innovation partnerships?",
    rf"{_ELIDED}achats? (?:publics? )?(?:innovants?|{_D}innovation)",
    r"marches? (?:publics? )?innovants?",
    r"solutions? innovantes?",
    r"innovative solutions?",
    rf"{_ELIDED}achats? (?:publics? )?(?:avant (?:la )?commercialisation|pre-? ?commerci(?:al|aux|ale|ales))",
    r"pre-? ?commercial procurement",
    r"(?:public )?procurement of innovati(?:ve solutions?|on)",
    r"nouv[a-z]* ou sensiblement amelior[a-z]*",
    r"(?:r\.? ?|article |art\.? ?)2122-9-1",
    r"l\.? ?2172-3",
    r"r\.? ?2172-(?:2[0-9]|3[0-2])",
    r"decret[^0-9]{0,8}(?:2018-1225|2021-1634)",
    rf"fonds? (?:{_D})?innovation achats?",
]

PROTOTYPE = [
    r"prototypes?",
    r"demonstrat(?:eurs?|ors?)",
    r"preuves? de concepts?",
    r"proofs? of concepts?",
    r"poc",
    r"trl ?-? ?[1-9]",
    r"technology readiness levels?",
    r"niveaux? de maturite technologique",
    r"developpements? experimenta(?:l|ux)",
]

# Rules v2, written from the labelled set's positives (rubric items 2 and 3; labels/rubrique.md): the object
# of the contract is to experiment with or test a solution or method, to design and build a device, or to
# develop a model, language, algorithm or simulation code. Each phrase is the head of the objet, not a
# context: "formation dans le cadre de l'expérimentation X" or "évaluation des programmes expérimentaux" stay
# medium words.
EXPERIMENTATION = [
    r"(?:pour objet|a pour but|consiste a|consistant a|vise a|visant a) (?:de |d'|l'|la |une )?(?:l')?"
    r"(?:experimentation|experimenter|tester)",
    r"^(?:l')?experimentation (?:et|d'un|d'une|de|du|des)",
    r"(?:conception|elaboration|developpement|creation|mise au point|definition) (?:et|puis) (?:l')?experimentation",
    r"phases? d'experimentation",
    r"experimentation et (?:le |la |l')?developpement",
]
CONCEPTION = [
    r"conception,? (?:et |la |le |l')*(?:realisation|developpement|fabrication)[^.;]{0,80}? (?:d'un |d'une |des |de "
    r"|d')(?:outils?(?! de (?:communication|promotion|signaletique))|dispositifs?|appareils?|instruments?"
    r"|unites? embarquees?|capteurs?|bancs?|machines?)",
]
RD_DELIVERABLE = [
    r"developpements? (?:de |d'|des )(?:langages?|modeles?|algorithmes?|methodes?|codes? de calcul)",
    r"(?:modeles?|outils?|plate-?formes?|codes?) de (?:simulation|prediction|calcul)",
    r"prediction de",
]

MEDIUM = {
    "moyen_startup": [
        r"start ?-?ups?",
        r"jeunes? entreprises? innovantes?",
        r"deep ?-?tech",
    ],
    "moyen_innov": [
        rf"{_ELIDED}innov(?:ations?|ante?s?|atives?|er|at(?:eur|rice)s?)",
    ],
    "moyen_exp": [
        rf"{_ELIDED}experimentations?",
        rf"{_ELIDED}experimenta(?:l|le|les|ux)",
        rf"{_ELIDED}experimenter",  # not "expérimenté": in objets it mostly means "experienced"
        r"prototyp(?:age|ee|ees|er)",
        r"(?:projets?|phases?|sites?|operations?|experimentations?|programmes?|actions?|dispositifs?|tests?|modes?)"
        r" pilotes?",
        r"pilot (?:projects?|phases?|study|studies|tests?|schemes?)",
    ],
    "moyen_rd": [
        r"r ?& ?d",
        r"recherches? et (?:de |du )?developpements?",
        r"recherche-developpement",
        r"research and development",
        r"co-? ?develop(?:pements?|ment)",
    ],
}

IA = [
    rf"{_ELIDED}intelligences? artificielles?",
    r"artificial intelligence",
    r"ia(?! ?-? ?(?:dasen|daasen|ipr|ien)(?![a-z]))(?! ?[0-9])",  # IA-DASEN, IA-IPR, IA 75: inspection académique
    r"machine learning",
    r"deep learning",
    r"apprentissages? (?:automatiques?|profonds?|machines?|statistiques?)",
    r"reseaux? (?:de )?neuron(?:es|aux|al)",
    r"llms?",
    r"traitements? automatiques? (?:du |des )?langues?",
    r"vision par ordinateur",
    r"computer vision",
]

TIERS: tuple[str, ...] = ("guard", "fort", "prototype", "experimentation", "conception", "rd_livrable", *MEDIUM,
                          "ia")
BIT = {tier: 1 << i for i, tier in enumerate(TIERS)}


def _alternation(patterns: list[str]) -> str:
    return "(?:" + "|".join(patterns) + ")"


_groups = [("guard", GUARDS), ("fort", STRONG), ("prototype", PROTOTYPE), ("experimentation", EXPERIMENTATION),
           ("conception", CONCEPTION), ("rd_livrable", RD_DELIVERABLE), *MEDIUM.items(), ("ia", IA)]
SCAN = re.compile(
    r"(?<![a-z0-9])(?:" + "|".join(f"(?P<{name}>{_alternation(p)})" for name, p in _groups) + r")(?![a-z0-9])"
)

# RE2 (pyarrow) regex on the raw text, case-insensitive: one stem per pattern above, accents as `.{1,2}`
# (precomposed, decomposed or U+FFFD), spaces as any space normalise() folds (RE2's \s is ASCII only), word
# edges as [^a-z0-9] (RE2's \b treats "_" as a letter). Must keep every text in which SCAN finds something.
_SP = r"[\s\x{00a0}\x{202f}\x{2007}\x{2009}\x{200a}\x{2002}\x{2003}\x{200b}]"
_EDGE = r"(?:^|[^a-z0-9])"
PREFILTER = "|".join([
    r"innov", r"xp.{1,2}rim", r"prototyp", r"pilot", r"d.{1,2}monstrat", rf"de{_SP}+concept", rf"of{_SP}+concept",
    rf"{_EDGE}poc(?:[^a-z0-9]|$)", rf"{_EDGE}trl", rf"r{_SP}*&(?:amp;)?{_SP}*d", r"recherche", r"research",
    rf"co.?{_SP}?d.{{1,2}}velop", r"start", r"deep.?tech", r"intelligen", r"artificial",
    rf"{_EDGE}ia(?:[^a-z0-9]|$)", r"learning", r"apprentissage", r"neuron", rf"{_EDGE}llm",
    rf"traitements?{_SP}+automatiques?", rf"vision{_SP}+par", rf"computer{_SP}+vision",
    r"2122", r"2172", r"1225", r"1634", r"commerci", r"sensiblement", r"readiness", r"maturit", r"procurement",
    r"tester", r"conception", r"veloppement", r"simulation", r"pr.{1,2}diction", r"calcul",
])


# Escapes whose meaning differs between Python's re (Unicode) and RE2 (ASCII): a SCAN using one gets no RE2 filter.
_UNICODE_ESCAPES = re.compile(r"\\[dDwWsSbB]")
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")


def without_lookarounds(pattern: str) -> str:
    """``pattern`` with its lookahead and lookbehind groups taken out (RE2 has none): it matches wherever
    ``pattern`` does, and possibly elsewhere, since only conditions are dropped."""
    out, at = [], 0
    while at < len(pattern):
        if pattern.startswith(_LOOKAROUNDS, at):
            at = _after_group(pattern, at)
            continue
        end = _token_end(pattern, at)
        out.append(pattern[at:end])
        at = end
    return "".join(out)


def _token_end(pattern: str, at: int) -> int:
    """The end of the token at ``at``: an escape, a whole character class (its brackets and parentheses are
    characters), or one character."""
    if pattern[at] == "\\":
        return at + 2
    if pattern[at] != "[":
        return at + 1
    end = at + 1
    if pattern.startswith("^", end):
        end += 1
    if pattern.startswith("]", end):  # first in a class, "]" is a character
        end += 1
    while pattern[end] != "]":
        end += 2 if pattern[end] == "\\" else 1
    return end + 1


def _after_group(pattern: str, start: int) -> int:
    """The position after the group opened at ``start``."""
    depth, at = 0, start
    while at < len(pattern):
        if pattern[at] == "(":
            depth += 1
        elif pattern[at] == ")":
            depth -= 1
            if depth == 0:
                return at + 1
        at = _token_end(pattern, at)
    raise ValueError(f"groupe non fermé : {pattern[start:start + 40]!r}")


def _candidates_pattern(pattern: str) -> str | None:
    """An RE2 pattern that finds something in every normalised text in which SCAN finds something: SCAN's word
    edges as characters, its other lookarounds dropped. None when SCAN uses what RE2 reads otherwise."""
    head, tail = "(?<![a-z0-9])", "(?![a-z0-9])"
    if not (pattern.startswith(head) and pattern.endswith(tail)) or _UNICODE_ESCAPES.search(pattern):
        return None
    return "(?:^|[^a-z0-9])" + without_lookarounds(pattern[len(head):-len(tail)]) + "(?:[^a-z0-9]|$)"


# Most texts the raw prefilter keeps have none of SCAN's phrases (a stem such as "calcul" or "conception" is in
# many). SCAN costs about 80 µs a text in Python's re; this RE2 pass over the normalised texts costs about 3 µs and
# leaves those SCAN then finds something in, and few others (measured on 35,000 objets of a national million: 6,315
# kept for 6,243 with a tier; 2.6 s of scanning down to 0.5).
CANDIDATES = _candidates_pattern(SCAN.pattern)


def scan(text: str) -> int:
    """Bitmask (BIT) of the tiers found in an already normalised text."""
    mask = 0
    for m in SCAN.finditer(text):
        mask |= BIT[m.lastgroup]
    return mask


def scan_series(texts: pd.Series) -> np.ndarray:
    """Tier bitmask of each raw text of a Series (missing -> 0), in positional order."""
    raw = _arrow(texts)
    if isinstance(raw, pa.ChunkedArray):  # a column read from Parquet: its dictionary must be one array
        raw = raw.combine_chunks()
    masks = np.zeros(len(raw), dtype=np.int64)
    positions = np.flatnonzero(_search(raw, PREFILTER))
    if len(positions):
        # Each distinct text scanned once (lots and republications repeat objets: a quarter of a national run's).
        found = pc.dictionary_encode(raw.take(pa.array(positions)))
        texts = [normalise(v) for v in found.dictionary.to_pylist()]
        verdicts = np.zeros(len(texts), dtype=np.int64)
        scanned = range(len(texts)) if CANDIDATES is None else np.flatnonzero(
            _search(pa.array(texts, type=pa.large_string()), CANDIDATES, ignore_case=False))
        for at in scanned:
            verdicts[at] = scan(texts[at])
        masks[positions] = verdicts[found.indices.to_numpy(zero_copy_only=False)]
    return masks


def search_raw(values: pd.Series, pattern: str) -> np.ndarray:
    """Case-insensitive RE2 search of `pattern` in each raw value (pyarrow); missing values give False."""
    return _search(_arrow(values), pattern)


def _arrow(values: pd.Series) -> pa.Array:
    # pandas' own str.contains(case=False) falls back to Python re, about 100x slower than RE2 here.
    return pa.array(values.astype("str"), type=pa.large_string())


def _search(raw: pa.Array, pattern: str, ignore_case: bool = True) -> np.ndarray:
    hits = pc.match_substring_regex(raw, pattern, ignore_case=ignore_case)
    return pc.fill_null(hits, False).to_numpy(zero_copy_only=False)
