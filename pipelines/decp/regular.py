"""Regular JSON contracts checked and normalised field by field, as columns, instead of one record at a time.

Nearly every record of a national DECP JSON file is *regular*: a contract whose keys are all fields of its official
schema (plus the platforms' ``_type``), valid against that schema. One at a time, such a record cost about 50 µs of
Python (the schema check of source_schema, then records.normalize_marche, then the row turned into columns): 50 s of
the two cores for a million contracts. Yet most of its fields repeat: a file has a few thousand buyers, suppliers,
places, dates and codes, a handful of procedures and labels.

So a block of records is taken field by field, records of the same keys together. Each field's schema verdict is
found once per distinct value with the same compiled validators as source_schema (or, for the few fields of simple
scalar schemas such as ``objet`` or ``montant``, by their type and bounds, a verdict that can only be stricter);
each field's normalisation runs once per distinct value with the same functions as normalize_marche
(``nature_and_techniques``, ``parse_date``…), on the same values: a field's result depends on that field alone in a
regular record, whose keys leave no room for the alternative names normalize_marche also looks at. A record's labels
(nature, procedure, price form, considerations…) are looked up together, once per distinct combination. Only the
values that never repeat (ids, objects, amounts, modifications) are handled one by one, each with one call.

A record is left to the record-by-record path (ingest) as soon as anything about it is not regular: another key, a
schema error, a value one of these functions refuses or raises on. That path words the rejets and the schema codes;
both paths give the same rows (tests/test_decp_regular.py compares them on the real samples and on generated
corpora, messy records included). About twice as fast on a 2024 file of 25,000 contracts (1.25 against 2.3 s).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter

import orjson

from . import source_schema
from .readers import MARCHE, RawRecord
from .source_schema import kept_key
from .records import (
    _CPV_KEYS,
    _DECLARED,
    _Anomalies,
    _buyer,
    _contract_id,
    _duration,
    _location,
    after_modifications,
    get,
    nature_and_techniques,
    parties,
    price_form_and_types,
    record_kind,
)
from .values import MEMO_MAX_ENTRIES, clean_label, clean_text, parse_amount, parse_bool, parse_cpv, parse_date, \
    parse_int
from .vocabulary import normalize_procedure

# False: every record read one by one (the reference the tests compare this path with).
ENABLED = True
JSON_FORMATS = ("decp-2024-json", "decp-2019-json")
# Unknown keys a regular record may carry: the platforms' record type, which normalize_marche never reads for a
# contract of a 2024 list (its kind is given by the list).
TOLERATED_UNKNOWN = frozenset({"_type"})
_ABSENT = object()
_UNKNOWN = object()
_REFUSED = object()  # a value a function raised on: the record goes the record-by-record way
_NO_NOTES: tuple[str, ...] = ()
_NONE: frozenset[str] = frozenset()


_SCALARS = frozenset({bool, int, float, type(None)})


def _keys(values: list) -> list:
    """``_safe_key`` of each value (inlined: a column of a block is tens of thousands of values). JSON texts are
    copied to their length (source_schema.kept_key): orjson's own buffers take 4 KB each."""
    dumps, scalars = orjson.dumps, _SCALARS
    try:
        return [v if (cls := v.__class__) is str else (cls, v) if cls in scalars else bytes(memoryview(dumps(v)))
                for v in values]
    except TypeError:
        return [kept_key(_safe_key(v)) for v in values]


def _safe_key(value: object) -> object:
    """source_schema's memo key; None (no memo: computed for this value alone) for a value that is not plain JSON."""
    return value if value is _ABSENT else source_schema.memo_key_of(value)


def _noted(function: Callable[..., object]) -> Callable[..., tuple[object, tuple[str, ...]]]:
    """``function(*values, notes)`` as (result, the anomaly codes it noted)."""
    def run(*values: object) -> tuple[object, tuple[str, ...]]:
        notes = _Anomalies()
        result = function(*values, notes)
        return result, tuple(notes) if notes else _NO_NOTES
    return run


def _pair(parser: Callable[[object], tuple]) -> Callable[[object], tuple[object, tuple[str, ...]]]:
    """A parser returning (value, anomaly) as (value, its anomaly codes)."""
    def run(value: object) -> tuple[object, tuple[str, ...]]:
        result, anomaly = parser(value)
        return result, (anomaly,) if anomaly else _NO_NOTES
    return run


def _plain(function: Callable[[object], object]) -> Callable[[object], tuple[object, tuple[str, ...]]]:
    return lambda value: (function(value), _NO_NOTES)


@dataclass
class Field:
    """One field's values over the records of a block (``_ABSENT`` where a record lacks it) and their memo keys."""
    values: list
    keys: list = field(default_factory=list)


# Memos of the process (a reading worker reads file after file), but for dates: the dates a file's reading judges
# must all be seen by its own window (values.watching_dates), so their results are remembered per file.
_SHAPES: dict[tuple, tuple[str, ...] | None] = {}
_VERDICTS: dict[tuple[str, str], dict] = {}
_RESULTS: dict[str, dict] = {}
_KINDS: dict[tuple, str] = {}
_PER_FILE = ("dateNotification", "datePublicationDonnees")


class Lane:
    """The regular records of one file's blocks (``today``: the day the run judges dates against)."""

    def __init__(self, today: dt.date) -> None:
        self.today = today
        self._shapes = _SHAPES
        self._verdicts = _VERDICTS
        self._kinds = _KINDS
        self._results: dict[str, dict] = {name: _RESULTS.setdefault(name, {}) for name in _COMPUTATIONS
                                          if name not in _PER_FILE}
        self._computations: dict[str, Callable[..., tuple[object, tuple[str, ...]]]] = {
            "acheteur": lambda value: (_buyer({"acheteur": value}, "acheteur", True), _NO_NOTES),
            "nature": _noted(nature_and_techniques),
            "prix": _noted(price_form_and_types),
            "titulaires": _plain(parties),
            "dureeMois": _noted(_duration),
            "lieuExecution": _noted(lambda value, notes: _location({"lieuExecution": value}, notes)),
            "marcheInnovant": _pair(lambda value: parse_bool(get({"marcheInnovant": value}, *_DECLARED, plain=True))),
            "codeCPV": _pair(lambda value: parse_cpv(get({"codeCPV": value}, *_CPV_KEYS, plain=True))),
            "procedure": _pair(normalize_procedure),
            "dateNotification": _pair(lambda value: parse_date(value, today)),
            "datePublicationDonnees": _pair(lambda value: parse_date(value, today)),
            "ccag": _plain(clean_label),
            "offresRecues": _pair(parse_int),
            "idAccordCadre": _plain(clean_text),
        }

    # --- which records are regular ------------------------------------------------------------------------------

    def _shape(self, shape: tuple, data: dict, schema: source_schema.RecordSchema) -> tuple[str, ...] | None:
        """The schema codes a record's keys (``shape``) alone give (unknown keys), or None when its keys are not
        regular."""
        known = self._shapes.get((schema.version, shape), _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        keys = set(shape)
        unknown = keys - schema.properties.keys()
        regular = unknown <= TOLERATED_UNKNOWN and not (set(schema.required) - keys)
        codes = None
        if regular:
            codes = tuple(sorted(source_schema._unknown_codes(data, schema.schema, ()))) \
                if unknown and schema.closed else ()
        if len(self._shapes) < MEMO_MAX_ENTRIES:
            self._shapes[(schema.version, shape)] = codes
        return codes

    def _kind(self, raw: RawRecord) -> str:
        if raw.kind is not None:
            return raw.kind
        data = raw.data
        key = (_safe_key(data.get("_type")), _safe_key(data.get("nature")))
        kind = self._kinds.get(key) if None not in key else None
        if kind is None:
            kind = record_kind(None, data)
            if None not in key and len(self._kinds) < MEMO_MAX_ENTRIES:
                self._kinds[kept_key(key)] = kind
        return kind

    def _valid(self, schema: source_schema.RecordSchema, name: str, column: Field) -> list[bool]:
        """Each value's verdict for this field of the schema: True only where source_schema finds it valid."""
        simple = _simple_check(schema, name)
        if simple is not None:
            return [v is _ABSENT or simple(v) for v in column.values]
        if not column.keys:
            column.keys = _keys(column.values)
        memo = self._verdicts.setdefault((schema.version, name), {})
        verdicts = [memo.get(k, _UNKNOWN) if k is not None else _UNKNOWN for k in column.keys]
        for line, verdict in enumerate(verdicts):
            if verdict is not _UNKNOWN:
                continue
            key = column.keys[line]
            verdict = memo.get(key, _UNKNOWN) if key is not None else _UNKNOWN  # seen earlier in this block
            if verdict is not _UNKNOWN:
                verdicts[line] = verdict
                continue
            value = column.values[line]
            if value is _ABSENT:
                verdict = True
            elif value.__class__ is list and len(value) == 1 and name in schema._item_schemas:
                verdict = schema._item_is_valid(name, value[0])
            else:
                verdict = schema._field_is_valid(name, value)
            verdicts[line] = verdict
            if key is not None and len(memo) < MEMO_MAX_ENTRIES:
                memo[kept_key(key)] = verdict
        return verdicts

    # --- normalisation, field by field --------------------------------------------------------------------------

    def _results_of(self, name: str, columns: list[Field]) -> list:
        """(result, anomaly codes) of the computation ``name`` for each record (``_REFUSED`` where it raised), once per
        distinct tuple of values."""
        compute = self._computations[name]
        memo = self._results.setdefault(name, {})  # per file for dates
        for column in columns:
            if not column.keys:
                column.keys = _keys(column.values)
        keys = columns[0].keys if len(columns) == 1 else list(zip(*(c.keys for c in columns)))
        results = [memo.get(k, _UNKNOWN) for k in keys]
        for line, result in enumerate(results):
            if result is not _UNKNOWN:
                continue
            key = keys[line]
            result = memo.get(key, _UNKNOWN)  # seen earlier in this block
            if result is not _UNKNOWN:
                results[line] = result
                continue
            values = [None if c.values[line] is _ABSENT else c.values[line] for c in columns]
            try:
                result = compute(*values)
            except Exception:  # noqa: BLE001 - the record-by-record path words the error
                result = _REFUSED
            results[line] = result
            if len(memo) < MEMO_MAX_ENTRIES and key is not None and (len(columns) == 1 or None not in key):
                memo[kept_key(key)] = result
        return results

    def read(self, raws: list[RawRecord]) -> Block:
        """The regular records among ``raws`` (records of one file, in order), as columns."""
        block = Block()
        groups: dict[tuple[str, tuple], tuple[list[int], tuple[str, ...]]] = {}
        for line, raw in enumerate(raws):
            data = raw.data
            if data.__class__ is not dict or raw.format_source not in JSON_FORMATS:
                continue
            schema = source_schema.schema_for(raw.format_source, MARCHE)
            if schema is None or not schema.by_field:
                continue
            shape = tuple(data)
            codes = self._shape(shape, data, schema)
            if codes is None or self._kind(raw) != MARCHE:
                continue
            group = groups.get((raw.format_source, shape))
            if group is None:
                group = groups[(raw.format_source, shape)] = ([], codes)
            group[0].append(line)
        for (fmt, shape), (lines, codes) in groups.items():
            self._read_group(source_schema.schema_for(fmt, MARCHE), shape, codes, lines, raws, block)
        block.sort()
        return block

    def _read_group(self, schema: source_schema.RecordSchema, shape: tuple[str, ...], codes: tuple[str, ...],
                    lines: list[int], raws: list[RawRecord], block: Block) -> None:
        """Records of one format whose keys are ``shape``, in that order (codes: the schema codes of those keys)."""
        count = len(lines)
        records = [raws[line].data for line in lines]
        # Keys in the same order in every record of the group: each record's values in one C-level call.
        values = zip(*map(itemgetter(*shape), records)) if len(shape) > 1 else ([r[shape[0]] for r in records],)
        columns = dict(zip(shape, values))
        keep = [True] * count
        # The labels of a record (nature, procedure, price form, considerations...) are looked up together, as one
        # key: their verdicts and results come from the distinct combinations, a few hundred in a national file.
        labels = [name for name in shape if name in _LABELS and name in schema.properties]
        combination, distinct = self._combinations(records, labels) if len(labels) > 1 else ([], [])
        together = {name: Field([columns[name][line] for line in distinct]) for name in labels} if distinct else {}
        fields = {name: Field(list(column)) for name, column in columns.items()
                  if name in schema.properties and name not in together}
        for name, column in fields.items():
            for line, verdict in enumerate(self._valid(schema, name, column)):
                if not verdict:
                    keep[line] = False
        if together:
            valid = [all(verdicts) for verdicts in zip(*(self._valid(schema, name, column)
                                                          for name, column in together.items()))]
            for line, at in enumerate(combination):
                if not valid[at]:
                    keep[line] = False
        empty = Field([_ABSENT] * count, [_ABSENT] * count)
        empty_together = Field([_ABSENT] * len(distinct), [_ABSENT] * len(distinct))

        computed = {}
        for name, inputs in _COMPUTATIONS.items():
            if together and all(field in together or field not in columns for field in inputs):
                results = self._results_of(name, [together.get(field, empty_together) for field in inputs])
                computed[name] = [results[at] for at in combination]
            else:
                computed[name] = self._results_of(name, [fields.get(field, empty) for field in inputs])

        def column(name: str) -> Field:
            return fields.get(name, empty)

        computed["id"] = [_call(_contract_id, v) for v in column("id").values]
        computed["objet"] = [_call(clean_text, v) for v in column("objet").values]
        computed["montant"] = [_call(_AMOUNT, v) for v in column("montant").values]
        for results in computed.values():
            if _REFUSED in results:
                for line, result in enumerate(results):
                    if result is _REFUSED:
                        keep[line] = False
        for line, (contract_id, buyer) in enumerate(zip(computed["id"], computed["acheteur"])):
            if contract_id is None or buyer is _REFUSED or buyer[0][0] is None:
                keep[line] = False
        computed["modifications"] = self._modified(column("modifications").values, computed, keep)
        kept = [line for line, ok in enumerate(keep) if ok]
        if len(kept) < count:
            computed = {name: [values[i] for i in kept] for name, values in computed.items()}
            lines = [lines[i] for i in kept]
        if lines:
            found = [codes] * len(lines)
            block.extend(_rows(computed, [raws[line] for line in lines], found), lines, found)

    def _combinations(self, records: list[dict], names: list[str]) -> tuple[list[int], list[int]]:
        """For each record, the number of its combination of values of ``names``; for each combination, its first
        record."""
        dumps, getter = orjson.dumps, itemgetter(*names)
        numbers: dict[bytes, int] = {}
        combination, first = [], []
        try:
            for line, values in enumerate(map(getter, records)):
                key = dumps(values)
                at = numbers.get(key)
                if at is None:
                    at = numbers[kept_key(key)] = len(first)
                    first.append(line)
                combination.append(at)
        except TypeError:  # not plain JSON (an integer beyond 64 bits): every record on its own
            return list(range(len(records))), list(range(len(records)))
        return combination, first

    def _modified(self, values: list, computed: dict[str, list], keep: list[bool]) -> list:
        """For each record with modifications: ((amount, duration, suppliers, count, date of the latest), the codes
        noted); None for the others. Only records kept so far are modified, each on copies of its modification
        objects (records.modifications rewrites them in place: a record sent the record-by-record way must reach it
        as read)."""
        changed: list = [None] * len(values)
        for line, value in enumerate(values):
            if not keep[line] or value.__class__ is not list or not value:
                continue
            if not all(item.__class__ is dict for item in value):
                keep[line] = False
                continue
            notes = _Anomalies()
            try:
                result = after_modifications([dict(item) for item in value], computed["montant"][line][0],
                                             computed["dureeMois"][line][0], computed["titulaires"][line][0], notes,
                                             self.today)
            except Exception:  # noqa: BLE001 - the record-by-record path words the error
                keep[line] = False
                continue
            changed[line] = (result, tuple(notes))
        return changed


# Each computation of Lane._computations and the fields it reads.
_COMPUTATIONS = {name: (name,) for name in (
    "acheteur", "titulaires", "dureeMois", "lieuExecution", "marcheInnovant", "codeCPV", "procedure",
    "dateNotification", "datePublicationDonnees", "ccag", "offresRecues", "idAccordCadre")}
_COMPUTATIONS.update({"nature": ("nature", "techniques"), "prix": ("formePrix", "typesPrix")})
# Fields of few distinct values whose combinations repeat: labels of lists, yes/no, the platforms' record type.
_LABELS = frozenset({"nature", "techniques", "modalitesExecution", "ccag", "attributionAvance", "tauxAvance",
                     "typeGroupementOperateurs", "procedure", "formePrix", "typesPrix", "sousTraitanceDeclaree",
                     "considerationsSociales", "considerationsEnvironnementales", "marcheInnovant", "_type"})
# Those whose anomaly codes go to the row (normalize_marche notes them).
_NOTED = ("nature", "prix", "montant", "dureeMois", "lieuExecution", "marcheInnovant", "codeCPV", "procedure",
          "dateNotification", "datePublicationDonnees", "offresRecues")


def _rows(computed: dict[str, list], raws: list[RawRecord], codes: list[tuple[str, ...]]) -> dict[str, list]:
    """The fields of normalize_marche's rows (those ingest adds too, but the file's names) for regular records:
    ``_anomalies`` holds the codes the functions noted and the anomaly spelling of the schema ``codes``."""
    def values(name: str, index: int | None = None) -> list:
        if index is None:
            return [result[0] for result in computed[name]]
        return [result[0][index] for result in computed[name]]

    buyer_ids = values("acheteur", 0)
    initial_amounts = values("montant")
    amounts, durations, suppliers = list(initial_amounts), values("dureeMois"), values("titulaires")
    count = len(raws)
    modified, latest = [0] * count, [None] * count
    changes = computed["modifications"]
    for line, change in enumerate(changes):
        if change is not None:
            amounts[line], durations[line], suppliers[line], modified[line], latest[line] = change[0]
    rows = {
        "uid": [buyer + ident for buyer, ident in zip(buyer_ids, computed["id"])],
        "id": computed["id"],
        "acheteur_id": buyer_ids,
        "acheteur_nom": values("acheteur", 1),
        "objet": computed["objet"],
        "code_cpv": values("codeCPV"),
        "procedure": values("procedure"),
        "nature": values("nature", 0),
        "techniques": values("nature", 1),
        "montant": amounts,
        "montant_initial": initial_amounts,
        "date_notification": values("dateNotification"),
        "duree_mois": durations,
        "date_publication_donnees": values("datePublicationDonnees"),
        "lieu_execution_code": values("lieuExecution", 0),
        "lieu_execution_type": values("lieuExecution", 1),
        "forme_prix": values("prix", 0),
        "types_prix": values("prix", 1),
        "ccag": values("ccag"),
        "offres_recues": values("offresRecues"),
        "id_accord_cadre": values("idAccordCadre"),
        "marche_innovant_declare": values("marcheInnovant"),
        "nb_modifications": modified,
        "_titulaires": suppliers,
        "_derniere_modification": latest,
        "format_source": [raw.format_source for raw in raws],
        "_position": [raw.position for raw in raws],
    }
    notes: list = [() if len(buyer) == 14 and buyer.isdigit() else ("acheteur_siret_invalide",) for buyer in buyer_ids]
    for name in _NOTED:
        for line, result in enumerate(computed[name]):
            if result[1]:
                notes[line] = notes[line] + result[1]
    for line, change in enumerate(changes):
        if change is not None and change[1]:
            notes[line] = notes[line] + change[1]
    for line, found in enumerate(codes):
        if found:
            notes[line] = notes[line] + tuple(source_schema.anomaly_code(code) for code in found)
    rows["_anomalies"] = [frozenset(found) if found else _NONE for found in notes]
    return rows


_AMOUNT = _pair(parse_amount)


def _call(function: Callable[[object], object], value: object) -> object:
    try:
        return function(None if value is _ABSENT else value)
    except Exception:  # noqa: BLE001 - the record-by-record path words the error
        return _REFUSED


_SIMPLE_KEYWORDS = frozenset({"title", "description", "$comment", "type", "minLength", "maxLength", "minimum",
                              "maximum"})
_SIMPLE_CHECKS: dict[tuple[str, str], Callable[[object], bool] | None] = {}


def _resolved(schema: source_schema.RecordSchema, node: dict) -> dict | None:
    """A property's schema with a lone local ``$ref`` followed (``#/definitions/...``); None for anything else."""
    if "$ref" not in node:
        return node
    if node.keys() - {"$ref", "title", "description", "$comment"}:
        return None
    ref = node["$ref"]
    if not ref.startswith("#/definitions/"):
        return None
    target: object = schema.definitions
    for part in ref[len("#/definitions/"):].split("/"):
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target if isinstance(target, dict) and "$ref" not in target else None


def _simple_check(schema: source_schema.RecordSchema, name: str) -> Callable[[object], bool] | None:
    """For a field whose schema is a plain string or number with bounds (``objet``, ``montant``, ``id``): a check
    that says True only for values the compiled validator accepts (strict classes: a subclass goes the slow way)."""
    key = (schema.version, name)
    if key in _SIMPLE_CHECKS:
        return _SIMPLE_CHECKS[key]
    node = _resolved(schema, schema.properties.get(name) or {})
    check = None
    if node is not None and node.keys() <= _SIMPLE_KEYWORDS:
        kind = node.get("type")
        if kind == "string" and not node.keys() & {"minimum", "maximum"}:
            check = _text_check(node.get("minLength", 0), node.get("maxLength", float("inf")))
        elif kind == "number" and not node.keys() & {"minLength", "maxLength"}:
            check = _number_check(node.get("minimum", float("-inf")), node.get("maximum", float("inf")))
    _SIMPLE_CHECKS[key] = check
    return check


def _text_check(low: float, high: float) -> Callable[[object], bool]:
    return lambda value: value.__class__ is str and low <= len(value) <= high


def _number_check(low: float, high: float) -> Callable[[object], bool]:
    return lambda value: (value.__class__ is float or value.__class__ is int) and low <= value <= high


@dataclass
class Block:
    """Regular records as columns: ``lines`` their places in the records read, ``rows`` the fields of their rows
    (as normalize_marche and ingest give them), ``codes`` their schema codes."""
    lines: list[int] = field(default_factory=list)
    rows: dict[str, list] = field(default_factory=dict)
    codes: list[tuple[str, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def extend(self, rows: dict[str, list], lines: list[int], codes: list[tuple[str, ...]]) -> None:
        for name, values in rows.items():
            self.rows.setdefault(name, []).extend(values)
        self.lines.extend(lines)
        self.codes.extend(codes)

    def sort(self) -> None:
        """In the order of the records read (a block may hold two formats' records)."""
        order = sorted(range(len(self.lines)), key=self.lines.__getitem__)
        if order == list(range(len(order))):
            return
        self.lines = [self.lines[i] for i in order]
        self.rows = {name: [values[i] for i in order] for name, values in self.rows.items()}
        self.codes = [self.codes[i] for i in order]
