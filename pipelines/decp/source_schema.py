"""Each raw DECP JSON record checked against the official JSON Schema of its format, as stable error codes.

**Which schema.** ``format_source`` ``decp-2024-…`` → v2.0.3 (JSON Schema draft-07), ``decp-2019-…`` → v1.5.0
(draft-04); the official files are kept verbatim in ``schemas/source/`` (see its README). Both describe a *whole
file* (``{"marches": …}``); one record is validated against ``definitions/marche`` or
``definitions/contrat-concession``, inside a wrapper that keeps the file's ``definitions`` (their internal ``$ref``
point to the file root) and its draft (in draft-04, ``12.0`` is not an integer; in draft-07 it is). In 2019 files
contracts and concessions share one list: the record's own fields tell which (``records.record_kind``).

**Only JSON records are checked.** XML records (XSD) and CSV rows (flattened or tabular exports) are other
representations of the data, where every value is text: they are not checked and are counted ``non_verifie``,
as are records the reader could not build (``UnreadableRecord``).

**Speed.** Validators are compiled once per (format, kind), on first use. Unknown keys (the platforms' ``_type``)
are found by a set difference, then ``fastjsonschema`` (the schema compiled to Python) answers valid / invalid for
the rest of the record. Only records still invalid are looked at further: ``required`` by set operations, each
top-level field with its own compiled validator, and ``jsonschema.iter_errors`` enumerates the errors of the
failing fields only. ``reference_codes`` runs ``jsonschema`` alone on the whole record: the tests check that both
give the same codes on every real sample record. Measured on the real 2024 sample: about 20 000 records/s (valid
or ``_type`` only), 2 000 records/s for records with other errors; ``jsonschema`` alone: 1 100–1 500 records/s.

**Codes** (stable, they aggregate): ``<nature>:<champ>``. ``<champ>`` is the path of the field from the record's
root, array indexes dropped, each key in snake_case, joined by ``_`` (``codeCPV`` → ``code_cpv``,
``lieuExecution.typeCode`` → ``lieu_execution_type_code``); the 2024 list wrappers (``WRAPPERS``) are left out so
that both formats give the same code (``modifications[3].modification.id`` → ``modifications_id`` as in 2019,
``titulaires[0].titulaire.typeIdentifiant`` → ``titulaires_type_identifiant``), except a missing wrapper itself
(``schema_champ_requis_absent:titulaires_titulaire``); ``enregistrement`` is the record itself. Codes match
``[a-z0-9_:]+``.

=================================  =============================================  ===============================
kind                               JSON Schema keyword                            real example
=================================  =============================================  ===============================
``schema_champ_requis_absent``     ``required`` (the missing field is named)      ``…:lieu_execution_nom`` (2019)
``schema_type_invalide``           ``type``                                       ``…:montant`` (``"12000.00"``)
``schema_valeur_hors_liste``       ``enum``, ``const``                            ``…:lieu_execution_type_code``
``schema_motif_invalide``          ``pattern``, ``format``                        ``…:code_cpv``
``schema_champ_inconnu``           ``additionalProperties`` (the key is named)    ``…:_type`` (2024)
``schema_longueur``                ``minLength``, ``maxLength``                   ``…:id_accord_cadre``
``schema_minimum``                 ``minimum``, ``exclusiveMinimum``              ``…:modifications_id``
``schema_maximum``                 ``maximum``, ``exclusiveMaximum``              ``…:taux_avance``
``schema_nombre_elements``         ``minItems``, ``maxItems``                     ``…:modifications`` (``[]``)
``schema_elements_en_double``      ``uniqueItems``                                ``…:titulaires``
``schema_contrainte``              any other keyword                              —
=================================  =============================================  ===============================

More than ``MAX_UNKNOWN_KEYS`` unknown keys in one record are summed up as ``schema_champ_inconnu:autres``.

**Severity.** A code is *benign* unless the normalisation (``records.py``) could not make a correct row anyway:

=====================  ==========================================================  ==================================
severity               codes                                                       effect
=====================  ==========================================================  ==================================
blocking (identity)    any code on ``id``, ``acheteur``/``acheteur_id``,           rejected with the normaliser's own
                       ``autorite_concedante``/``autorite_concedante_id`` or       motif (``identifiant_manquant``,
                       ``enregistrement``, **when the normaliser cannot recover    ``acheteur_manquant``,
                       the value** (absent, empty, not a scalar)                   ``enregistrement_non_objet``); the
                                                                                   codes are added to the detail
blocking (content)     a code on the date (``date_notification``, concessions      rejected ``schema_invalide``, the
                       ``date_signature``) **and** one on the amount               detail lists the codes
                       (``montant``, ``valeur_globale``), and the normaliser
                       recovered neither: the row could not be dated nor weighed
benign                 everything else: unknown keys (``_type``), numbers or       record kept; every code is added
                       dates as text, vocabulary variants (``Code Postal``,        to the row's anomalies, spelt
                       old procedure labels), missing optional-in-practice         ``<nature>_<champ>`` (``:`` → ``_``:
                       fields (``objet``, ``ccag``…), list shapes                  ``anomaly_code``) as the published
                       (``modifications: []``), ids of the wrong length,           ``anomalies`` column only allows
                       SIRET of the wrong shape (already ``acheteur_siret_…``)     ``[a-z0-9_]``
=====================  ==========================================================  ==================================

A missing ``objet`` stays benign: consolidation handles untitled records (``consolidate._split_contracts``) and
two real 2019 records without ``objet`` have a date and an amount.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import orjson

from .readers import CONCESSION, MARCHE, RawRecord, UnreadableRecord
from .records import record_kind

try:  # compiled validation; without it (not installed yet) jsonschema answers alone, about 10 times slower
    import fastjsonschema
except ImportError:  # pragma: no cover - fastjsonschema is a dependency of the project
    fastjsonschema = None

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "source"
# format_source prefix → (official file, version). Only "-json" formats are checked.
SCHEMA_FILES = {
    "decp-2024": ("format-commande-publique__schema_decp_v2.0.3.json", "2.0.3"),
    "decp-2019": ("format-commande-publique__marches_v1.5.0.json", "1.5.0"),
}
DEFINITIONS = {MARCHE: "marche", CONCESSION: "contrat-concession"}

KINDS = {
    "required": "schema_champ_requis_absent",
    "type": "schema_type_invalide",
    "enum": "schema_valeur_hors_liste",
    "const": "schema_valeur_hors_liste",
    "pattern": "schema_motif_invalide",
    "format": "schema_motif_invalide",
    "additionalProperties": "schema_champ_inconnu",
    "minLength": "schema_longueur",
    "maxLength": "schema_longueur",
    "minimum": "schema_minimum",
    "exclusiveMinimum": "schema_minimum",
    "maximum": "schema_maximum",
    "exclusiveMaximum": "schema_maximum",
    "minItems": "schema_nombre_elements",
    "maxItems": "schema_nombre_elements",
    "uniqueItems": "schema_elements_en_double",
}
OTHER_KIND = "schema_contrainte"
RECORD_FIELD = "enregistrement"
MAX_UNKNOWN_KEYS = 10
# Field verdicts remembered per field of a record schema (about 40 MB at most in all).
MAX_REMEMBERED_VERDICTS = 50_000
# A text or number field with this many distinct values in its first 2 * MEMO_TRIAL records (ids, objects,
# amounts: mostly new values) is validated directly: its compiled check costs less than a memo that misses.
MEMO_TRIAL = 2_000
_DIRECT = None  # the memo of a field validated directly
MAX_KEY_CHARS = 64  # per key: unknown keys come from the data
# The 2024 format wraps each list item in a singular key ({"titulaires": [{"titulaire": {…}}]}), the 2019 one does
# not: the wrapper is left out of codes so that both formats give the same code (titulaires_type_identifiant).
WRAPPERS = {
    "titulaire": "titulaires",
    "modification": "modifications",
    "acteSousTraitance": "actesSousTraitance",
    "modificationActeSousTraitance": "modificationsActesSousTraitance",
    "concessionnaire": "concessionnaires",
    "donneesAnnuelles": "donneesExecution",
    "tarif": "tarifs",
    "technique": "techniques",
    "typePrix": "typesPrix",
    "modaliteExecution": "modalitesExecution",
    "considerationSociale": "considerationsSociales",
    "considerationEnvironnementale": "considerationsEnvironnementales",
}

# The (date, amount) pair of the content rule, as (code field, key of the normalised row). The identity rule needs
# no table: the normaliser rejects records whose id or buyer it cannot recover (RecordRejected).
CONTENT_FIELDS = {
    MARCHE: (("date_notification", "date_notification"), ("montant", "montant")),
    CONCESSION: (("date_signature", "date_signature"), ("valeur_globale", "valeur_globale")),
}
SCHEMA_INVALIDE = "schema_invalide"

# Keywords of a record's (sub-)schema that the per-field decomposition reproduces exactly.
_DECOMPOSABLE = frozenset({"title", "description", "type", "properties", "required", "additionalProperties",
                           "definitions", "$comment"})
# Keywords of an array field whose one-item values are valid exactly when their item is (titulaires, modifications).
_PLAIN_ARRAY = frozenset({"title", "description", "type", "items", "minItems", "uniqueItems", "$comment"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_CODE = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class SchemaCheck:
    """Outcome for one record: the schema version used and its sorted error codes (empty: valid)."""

    version: str
    kind: str
    codes: tuple[str, ...]


def snake(name: str) -> str:
    """``codeCPV`` → ``code_cpv``; accents folded, anything outside ``[a-z0-9_]`` → ``_``."""
    text = unicodedata.normalize("NFKD", str(name).strip())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NOT_CODE.sub("_", _CAMEL.sub("_", text).lower())


def field_of(path: Iterable[object], keep_last: bool = False) -> str:
    """The code's field for a JSON path: indexes dropped, list wrappers dropped, keys in snake_case.

    ``keep_last``: the last key is kept even if it is a wrapper (a missing wrapper is what a `required` says).
    """
    keys = [p for p in path if isinstance(p, str)]
    parts = []
    for i, key in enumerate(keys):
        wrapper_of = WRAPPERS.get(key)
        if wrapper_of is not None and i > 0 and keys[i - 1] == wrapper_of and not (keep_last and i == len(keys) - 1):
            continue
        parts.append(snake(key)[:MAX_KEY_CHARS])
    return "_".join(p for p in parts if p) or RECORD_FIELD


def make_code(keyword: str, path: Iterable[object]) -> str:
    return f"{KINDS.get(keyword, OTHER_KIND)}:{field_of(path, keep_last=keyword == 'required')}"


def code_field(code: str) -> str:
    return code.split(":", 1)[1]


def anomaly_code(code: str) -> str:
    """The spelling of a code in a row's anomalies (``[a-z0-9_]`` only): ``schema_type_invalide_montant``."""
    return code.replace(":", "_")


def _error_codes(error: jsonschema.ValidationError, prefix: tuple[str, ...]) -> Iterator[str]:
    path = (*prefix, *(p for p in error.absolute_path if isinstance(p, str)))
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield make_code("required", (*path, name))
    elif error.validator == "additionalProperties" and isinstance(instance, dict) and isinstance(error.schema, dict):
        yield from _unknown_codes(instance, error.schema, path)
    else:
        yield make_code(error.validator, path)


def _unknown_codes(instance: dict, schema: dict, path: tuple[str, ...]) -> Iterator[str]:
    known = schema.get("properties") or {}
    patterns = list((schema.get("patternProperties") or {}))
    unknown = sorted(k for k in instance if k not in known and not any(re.search(p, k) for p in patterns))
    for name in unknown[:MAX_UNKNOWN_KEYS]:
        yield make_code("additionalProperties", (*path, name))
    if len(unknown) > MAX_UNKNOWN_KEYS:
        yield make_code("additionalProperties", (*path, "autres"))


_UNSET = object()


def memo_key_of(value: object) -> object:
    """A memo key telling apart values that JSON tells apart (1, 1.0 and true are equal Python keys); None for a
    value that is not plain JSON (an integer beyond 64 bits): no memo."""
    cls = value.__class__
    if cls is str:
        return value
    if value is None or cls is int or cls is float or cls is bool:
        return cls, value
    try:
        return orjson.dumps(value)
    except TypeError:
        return None


def kept_key(key: object) -> object:
    """A memo key fit to be kept: orjson.dumps returns its text in a buffer of at least 4 KB, so each JSON key kept
    in a memo (verdicts of suppliers, of modifications...) would hold 4 KB of memory; a copy holds its length."""
    if key.__class__ is bytes:
        return bytes(memoryview(key))
    if key.__class__ is tuple:
        return tuple(bytes(memoryview(part)) if part.__class__ is bytes else part for part in key)
    return key


class RecordSchema:
    """The schema of one record kind in one format version, with its compiled validators (built on first use)."""

    def __init__(self, document: dict, definition: str, version: str) -> None:
        self.version = version
        self.draft = document.get("$schema")
        self.definitions = document["definitions"]
        self.schema = self.definitions[definition]
        self.properties: dict = self.schema.get("properties") or {}
        self.required: tuple[str, ...] = tuple(self.schema.get("required") or ())
        self.closed = self.schema.get("additionalProperties", True) is False
        self.decomposable = set(self.schema) <= _DECOMPOSABLE and self.schema.get("type", "object") == "object"
        # Valid as a whole iff the required fields are there and each field is valid alone (extra keys being set
        # aside, or allowed): then a field's verdict can be remembered for the values that come back.
        self.by_field = self.decomposable and self.schema.get("additionalProperties", True) in (True, False)
        # Per field: text, (class, scalar) or JSON bytes → verdict; _DIRECT for the fields validated directly.
        self._verdicts: dict[str, dict | None] = {}
        self._records = 0
        # Array fields whose one-item lists are judged by their item: most contracts have one supplier, and
        # suppliers come back more often than lists of them.
        self._item_schemas = {key: schema["items"] for key, schema in self.properties.items()
                              if isinstance(schema, dict) and schema.keys() <= _PLAIN_ARRAY
                              and schema.get("type") == "array" and isinstance(schema.get("items"), dict)
                              and schema.get("minItems", 0) <= 1}
        self._item_fast: dict[str, Callable[[object], bool]] = {}
        self._item_verdicts: dict[tuple[str, bytes], bool] = {}
        self._checks: dict[tuple[str, tuple[str, ...]], SchemaCheck] = {}
        self._whole_fast: Callable[[object], bool] | None = None
        self._whole_slow: jsonschema.protocols.Validator | None = None
        self._field_fast: dict[str, Callable[[object], bool]] = {}
        self._field_slow: dict[str, jsonschema.protocols.Validator] = {}
        self._codes: dict[tuple[str, object], frozenset[str]] = {}

    def _wrap(self, schema: dict) -> dict:
        """A standalone schema for ``schema``: the file's draft and definitions, so that every $ref resolves."""
        wrapper = {"definitions": self.definitions, "allOf": [schema]}
        if self.draft:
            wrapper["$schema"] = self.draft
        return wrapper

    def _slow(self, schema: dict) -> jsonschema.protocols.Validator:
        wrapper = self._wrap(schema)
        return jsonschema.validators.validator_for(wrapper)(wrapper)

    def _fast(self, schema: dict) -> Callable[[object], bool]:
        if fastjsonschema is None:
            return self._slow(schema).is_valid
        validate = fastjsonschema.compile(self._wrap(schema), use_default=False, use_formats=False,
                                          detailed_exceptions=False)

        def is_valid(value: object) -> bool:
            try:
                validate(value)
            except fastjsonschema.JsonSchemaValueException:
                return False
            return True

        return is_valid

    def is_valid(self, record: object) -> bool:
        if self._whole_fast is None:
            self._whole_fast = self._fast(self.schema)
        return self._whole_fast(record)

    def codes(self, record: object) -> tuple[str, ...]:
        """Sorted error codes of ``record`` (empty when valid)."""
        if not isinstance(record, dict):
            return (make_code("type", ()),)
        if not self.decomposable:
            return () if self.is_valid(record) else self.reference_codes(record)
        # Unknown keys (the platforms' `_type`) are found by a set difference; the rest of the record is then
        # validated as if they were not there, so that they alone do not send it down the slow path.
        unknown = record.keys() - self.properties.keys() \
            if self.closed and not record.keys() <= self.properties.keys() else ()
        known = {k: v for k, v in record.items() if k not in unknown} if unknown else record
        found = set(_unknown_codes(record, self.schema, ())) if unknown else set()
        if self._valid_by_fields(known) if self.by_field else self.is_valid(known):
            return tuple(sorted(found)) if found else ()
        found.update(make_code("required", (name,)) for name in self.required if name not in record)
        verdict = self._field_verdict if self.by_field else self._field_is_valid
        for key, value in record.items():
            if key in self.properties and not verdict(key, value):
                found.update(self._field_codes(key, value))
        # The compiled validator and jsonschema disagreeing would be a bug of one of them: say so, don't drop it.
        return tuple(sorted(found)) or (make_code("$unknown", ()),)

    def _valid_by_fields(self, record: dict) -> bool:
        """The whole record's verdict from its fields' (by_field schemas), each remembered per distinct value:
        a national file repeats its procedures, buyers, price types and considerations thousands of times."""
        for name in self.required:
            if name not in record:
                return False
        self._records += 1
        properties = self.properties
        for key, value in record.items():
            # Keys set aside (unknown keys of a closed schema) or allowed (open schema) are not the fields'.
            if key in properties and not self._field_verdict(key, value):
                return False
        return True

    def _field_verdict(self, key: str, value: object) -> bool:
        """``_field_is_valid``, remembered per distinct value (but for fields whose values do not repeat)."""
        memos = self._verdicts
        memo = memos.get(key, _UNSET)
        if memo is _UNSET:
            memo = memos[key] = {}
        cls = value.__class__
        if memo is _DIRECT and (cls is str or cls is int or cls is float):
            return self._field_is_valid(key, value)
        if cls is list and len(value) == 1 and key in self._item_schemas:
            return self._item_is_valid(key, value[0])
        memo_key = memo_key_of(value)
        if memo is _DIRECT:
            memo = None
        verdict = memo.get(memo_key) if memo is not None and memo_key is not None else None
        if verdict is None:
            verdict = self._field_is_valid(key, value)
            if memo is not None and memo_key is not None and len(memo) < MAX_REMEMBERED_VERDICTS:
                memo[kept_key(memo_key)] = verdict
                if len(memo) == MEMO_TRIAL and self._records <= 2 * MEMO_TRIAL and cls in (str, int, float):
                    memos[key] = _DIRECT
        return verdict

    def _item_is_valid(self, key: str, item: object) -> bool:
        """A one-item list of a plain array field: valid when its item is (length and uniqueness hold)."""
        try:
            memo_key = (key, orjson.dumps(item))
        except TypeError:  # not plain JSON (an integer beyond 64 bits): no memo
            memo_key = None
        verdict = self._item_verdicts.get(memo_key) if memo_key is not None else None
        if verdict is None:
            validate = self._item_fast.get(key)
            if validate is None:
                validate = self._item_fast[key] = self._fast(self._item_schemas[key])
            verdict = validate(item)
            if memo_key is not None and len(self._item_verdicts) < MAX_REMEMBERED_VERDICTS:
                self._item_verdicts[kept_key(memo_key)] = verdict
        return verdict

    def outcome(self, kind: str, codes: tuple[str, ...]) -> SchemaCheck:
        """One shared (frozen) SchemaCheck per distinct outcome: most records have the same few."""
        found = self._checks.get((kind, codes))
        if found is None:
            found = SchemaCheck(self.version, kind, codes)
            if len(self._checks) < MAX_REMEMBERED_VERDICTS:
                self._checks[kind, codes] = found
        return found

    def _field_is_valid(self, key: str, value: object) -> bool:
        validate = self._field_fast.get(key)
        if validate is None:
            validate = self._field_fast[key] = self._fast(self.properties[key])
        return validate(value)

    def _field_codes(self, key: str, value: object) -> frozenset[str]:
        """The codes of an invalid field value, from ``jsonschema`` (slow: remembered per distinct value)."""
        memo_key = memo_key_of(value)
        memo_key = (key, memo_key) if memo_key is not None else None
        found = self._codes.get(memo_key) if memo_key is not None else None
        if found is None:
            validator = self._field_slow.get(key)
            if validator is None:
                validator = self._field_slow[key] = self._slow(self.properties[key])
            found = frozenset(code for error in validator.iter_errors(value) for code in _error_codes(error, (key,)))
            if memo_key is not None and len(self._codes) < MAX_REMEMBERED_VERDICTS:
                self._codes[kept_key(memo_key)] = found
        return found

    def reference_codes(self, record: object) -> tuple[str, ...]:
        """The codes from ``jsonschema`` on the whole record (slow; the reference the fast path must match)."""
        if self._whole_slow is None:
            self._whole_slow = self._slow(self.schema)
        return tuple(sorted({code for error in self._whole_slow.iter_errors(record)
                             for code in _error_codes(error, ())}))


def _load() -> dict[tuple[str, str], RecordSchema]:
    """Read at import: a missing schema file must stop the run, not reject every input file one by one."""
    schemas = {}
    for prefix, (name, version) in SCHEMA_FILES.items():
        document = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
        for kind, definition in DEFINITIONS.items():
            schemas[(prefix, kind)] = RecordSchema(document, definition, version)
    return schemas


SCHEMAS = _load()


_SCHEMA_FOR: dict[tuple[str | None, str], RecordSchema | None] = {}


def schema_for(format_source: str | None, kind: str) -> RecordSchema | None:
    """The record schema for a JSON ``format_source``; None for the formats that are not checked."""
    key = (format_source, kind)
    try:
        return _SCHEMA_FOR[key]
    except KeyError:
        pass
    schema = _schema_for(format_source, kind)
    if len(_SCHEMA_FOR) < 64:  # a handful of formats and kinds
        _SCHEMA_FOR[key] = schema
    return schema


def _schema_for(format_source: str | None, kind: str) -> RecordSchema | None:
    text = format_source or ""
    if not text.endswith("-json"):
        return None
    for prefix in SCHEMA_FILES:
        if text.startswith(prefix):
            return SCHEMAS.get((prefix, kind))
    return None


def check(raw: RawRecord, kind: str | None = None) -> SchemaCheck | None:
    """The schema codes of one raw record as read (before normalisation); None when it is not checked.

    ``kind``: the record's own (``records.record_kind``), when the caller knows it already."""
    if isinstance(raw.data, UnreadableRecord):
        return None
    if isinstance(raw.data, dict):
        kind = kind or record_kind(raw.kind, raw.data)
    else:
        kind = raw.kind or MARCHE
    schema = schema_for(raw.format_source, kind)
    if schema is None:
        return None
    return schema.outcome(kind, schema.codes(raw.data))


def blocking_codes(result: SchemaCheck, row: dict) -> tuple[str, ...]:
    """The codes that make a normalised row unusable (content rule above); empty when the row is kept.

    Identity failures never get here: the normaliser rejects those records itself.
    """
    (date_field, date_key), (amount_field, amount_key) = CONTENT_FIELDS[result.kind]
    fields = {code_field(code) for code in result.codes}
    if date_field in fields and amount_field in fields and row.get(date_key) is None and row.get(amount_key) is None:
        return tuple(c for c in result.codes if code_field(c) in (date_field, amount_field))
    return ()


def _listing(codes: Iterable[str], budget: int) -> str:
    codes = list(codes)
    shown: list[str] = []
    for code in codes:
        if sum(len(c) + 2 for c in shown) + len(code) > budget:
            break
        shown.append(code)
    rest = len(codes) - len(shown)
    return ", ".join(shown) + (f" (+{rest} autres)" if rest else "")


def rejection_detail(result: SchemaCheck, blocking: tuple[str, ...]) -> str:
    label = "marché" if result.kind == MARCHE else "contrat de concession"
    what = "ni date de notification ni montant" if result.kind == MARCHE else "ni date de signature ni valeur globale"
    head = (f"{label} non conforme au schéma officiel DECP v{result.version} et inexploitable : {what} "
            f"utilisables ({', '.join(blocking)}) ; erreurs : ")
    return head + _listing(result.codes, max(80, 500 - len(head)))


def with_codes(detail: str, result: SchemaCheck | None) -> str:
    """A normaliser's reject detail, followed by the schema codes of the record when it had any."""
    if result is None or not result.codes:
        return detail
    head = f"{detail} ; schéma officiel v{result.version} : "
    return head + _listing(result.codes, max(80, 500 - len(head)))
