"""Import and export of knowledge items as CSV, XLSX (openpyxl) or JSON Lines.

Columns: ``id, question, answer, category, keywords, similar_questions, active``.
In CSV and XLSX the two lists are ``|``-separated; in JSON Lines they are lists.
Rows are numbered as a person sees them: the spreadsheet row (the header is row
1) or the line of the JSONL file.

Import validates every row first and reports every problem with its row number;
by default nothing is written unless every row is good (``skip_invalid`` loads
the good rows). Duplicates — the same id or question twice in the file, two rows
matching one item, or an id or question the shop already has — are errors unless
``on_duplicate`` says ``skip`` or ``update``. An update changes only the fields
whose column the file has (a CSV/XLSX header column, a JSON key).

A CSV cell that a spreadsheet would run as a formula (it starts with = + - @, a
tab or a carriage return) is exported behind a ``'``, as OWASP advises against
CSV injection, and import takes that ``'`` off again. XLSX cells are written as
text, which no spreadsheet runs; JSON Lines needs no escaping.
"""

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kefu.validators import CONTROL_CHARACTERS, validate_no_control_characters, without_control_characters

from .exceptions import KnowledgeError
from .models import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX,
    SIMILAR_QUESTION_MAX_LENGTH,
    SIMILAR_QUESTIONS_MAX,
    KnowledgeItem,
)

TEXT_LIST_LIMITS = {
    "keywords": (KEYWORD_MAX_LENGTH, KEYWORDS_MAX),
    "similar_questions": (SIMILAR_QUESTION_MAX_LENGTH, SIMILAR_QUESTIONS_MAX),
}

COLUMNS = ("id", "question", "answer", "category", "keywords", "similar_questions", "active")
FORMATS = ("csv", "xlsx", "jsonl")
TRUE = {"1", "true", "yes", "y", "是", "启用", "on"}
FALSE = {"0", "false", "no", "n", "否", "停用", "off"}
LIMITS = {"id": 100, "question": 500, "category": 100}
DUPLICATE_POLICIES = ("error", "skip", "update")
# The key of a raw row under which a reader puts what it found wrong with cells: [(column, message)].
CELL_PROBLEMS = "__cell_problems__"
# Excel keeps at most this many characters in a cell; openpyxl cuts longer text silently.
XLSX_CELL_LIMIT = 32_767
# A cell exported behind a "'" and an imported cell that loses it. The "'*" makes it a
# round trip: a text that itself starts with "'" and a formula character gets one more.
_CSV_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_CSV_QUOTED = re.compile(r"'+[=+\-@\t\r]")


class KnowledgeImportError(KnowledgeError):
    code = "import_invalid"


class KnowledgeExportError(KnowledgeError):
    code = "export_invalid"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)  # [{"row": n, "field": name, "message": text}]
    item_ids: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped, "errors": self.errors}


def format_of(name: str, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise KnowledgeError(_("Unknown format %(format)r: use csv, xlsx or jsonl.") % {"format": explicit},
                                 code="invalid_format")
        return explicit
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in ("jsonl", "json", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "xlsx"):
        return suffix
    raise KnowledgeError(_("Give a .csv, .xlsx or .jsonl file (or the format)."), code="invalid_format")


# --------------------------------------------------------------------------- reading

def read_rows(data: bytes, fmt: str) -> list[tuple[int, dict]]:
    """Parse a file into ``[(row number, raw fields)]``. Raises ``KnowledgeImportError`` if unreadable."""
    try:
        if fmt == "jsonl":
            return _read_jsonl(data)
        if fmt == "csv":
            return _read_csv(data)
        return _read_xlsx(data)
    except UnicodeDecodeError as exc:
        # Excel's plain "CSV" on a Chinese Windows is GBK: say how to save it instead.
        raise KnowledgeImportError(_("The file is not UTF-8 text. In Excel save it as \"CSV UTF-8\"; in other "
                                     "programs choose the UTF-8 encoding when saving."),
                                   code="import_unreadable") from exc


def _read_jsonl(data: bytes) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(data.decode("utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        rows.append((number, value if isinstance(value, dict) else {"__invalid__": _("not a JSON object")}))
    return rows


def _check_header(header: list[str]) -> list[str]:
    header = [str(h or "").strip().lower() for h in header]
    missing = [c for c in ("question", "answer") if c not in header]
    if missing:
        raise KnowledgeImportError(_("The header row lacks: %(columns)s.") % {"columns": ", ".join(missing)},
                                   code="import_unreadable",
                                   detail=[{"row": 1, "field": c, "message": _("missing column")} for c in missing])
    return header


def _by_header(header: list[str], values) -> dict:
    """A row's cells by column; a column the row is too short for is blank, so the header alone
    says which columns the file has."""
    values = list(values)
    return {h: values[n] if n < len(values) else "" for n, h in enumerate(header)}


def _csv_unquote(value: str) -> str:
    return value[1:] if _CSV_QUOTED.match(value) else value


def _read_csv(data: bytes) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    rows, number = [], 0  # number: the last row read; the header is row 1
    try:
        try:
            header = _check_header(next(reader))
        except StopIteration as exc:
            raise KnowledgeImportError(_("The file is empty."), code="import_unreadable") from exc
        number = 1
        for number, values in enumerate(reader, 2):
            if any(v.strip() for v in values):
                rows.append((number, _by_header(header, (_csv_unquote(v) for v in values))))
    except csv.Error as exc:
        row = number + 1  # the row being read when it failed
        if "field larger than field limit" in str(exc):
            # csv's default limit, kept: it is above the longest cell an item within the API's limits
            # gives (200 similar questions of 500 characters), and it is process-wide state.
            message = _("a cell is longer than %(n)s characters, the most a CSV cell may have") % {
                "n": f"{csv.field_size_limit():,}"}
        else:
            message = _("not readable as CSV (%(error)s)") % {"error": exc}
        raise KnowledgeImportError(_("Row %(row)d: %(message)s.") % {"row": row, "message": message},
                                   code="import_unreadable",
                                   detail=[{"row": row, "field": "row", "message": message}]) from exc
    return rows


def _read_xlsx(data: bytes) -> list[tuple[int, dict]]:
    from openpyxl import load_workbook

    try:
        # A cell is read as the spreadsheet last showed it (its saved result when it is a
        # formula); the second reading tells which cells are formulas.
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False).worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise KnowledgeImportError(_("The file is not an XLSX workbook."), code="import_unreadable") from exc
    lines = zip(sheet.iter_rows(values_only=True), formulas.iter_rows(), strict=False)
    try:
        header = _check_header(list(next(lines)[0]))
    except StopIteration as exc:
        raise KnowledgeImportError(_("The workbook is empty."), code="import_unreadable") from exc
    rows = []
    for number, (values, cells) in enumerate(lines, 2):
        if any(v not in (None, "") for v in values) or any(c.data_type == "f" for c in cells):
            raw = {h: ("" if v is None else v) for h, v in _by_header(header, values).items()}
            # A formula saved without its result (a file written by a program, never opened in a
            # spreadsheet) reads as empty: an update would blank the column without a word.
            unsaved = [(h, cell.value) for h, cell, value in zip(header, cells, values, strict=False)
                       if cell.data_type == "f" and value is None]
            if unsaved:
                raw[CELL_PROBLEMS] = [(h, _("is a formula with no saved result (%(formula)s); open and save the "
                                            "file in a spreadsheet program, or type the text") % {"formula": formula})
                                      for h, formula in unsaved]
            rows.append((number, raw))
    return rows


# --------------------------------------------------------------------------- validating

def _check_characters(value: str, name: str, problems) -> None:
    try:
        validate_no_control_characters(value)
    except ValidationError as exc:
        problems.append((name, exc.messages[0]))


def _text_list(value, name, problems) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        parts = value.split("|")
        _check_characters(value, name, problems)
    elif isinstance(value, list):
        parts = value
        if any(not isinstance(p, str) for p in parts):
            problems.append((name, _("must be a list of texts")))
            return []
        if any("|" in p for p in parts):
            problems.append((name, _("an entry contains '|', which separates entries in CSV and XLSX")))
        _check_characters("".join(parts), name, problems)
    else:
        problems.append((name, _("must be a list of texts or a '|'-separated text")))
        return []
    max_length, max_entries = TEXT_LIST_LIMITS[name]
    out = []
    for part in parts:
        part = part.strip()
        if len(part) > max_length:
            problems.append((name, _("an entry is longer than %(limit)d characters") % {"limit": max_length}))
        elif part and part not in out:
            out.append(part)
    if len(out) > max_entries:
        problems.append((name, _("at most %(limit)d entries") % {"limit": max_entries}))
    return out


def clean_row(raw: dict) -> tuple[dict, list[tuple[str, str]]]:
    """One raw row → ``(fields, problems)``; ``problems`` is ``[(field, message)]``.

    ``fields`` has ``question`` and ``answer``, and another field only when the row has its
    column, so an update changes nothing else and a new item gets the defaults. A blank
    ``id`` or ``active`` counts as absent: it neither clears the external id the item is
    found by nor switches an item on.
    """
    problems = list(raw.get(CELL_PROBLEMS, []))
    if "__invalid__" in raw:
        return {}, [("row", raw["__invalid__"])]

    def text(name):
        value = raw.get(name, "")
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append((name, _("must be text")))
            return ""
        value = str(value).strip()
        if name in LIMITS and len(value) > LIMITS[name]:
            problems.append((name, _("longer than %(n)d characters") % {"n": LIMITS[name]}))
        _check_characters(value, name, problems)
        return value

    fields = {"question": text("question"), "answer": text("answer")}
    if "id" in raw and (external_id := text("id")):
        fields["external_id"] = external_id
    if "category" in raw:
        fields["category"] = text("category")
    for name in ("keywords", "similar_questions"):
        if name in raw:
            fields[name] = _text_list(raw[name], name, problems)
    active = raw.get("active")
    state = "" if active is None else str(active).strip().lower()
    if isinstance(active, bool):
        fields["is_active"] = active
    elif state in TRUE:
        fields["is_active"] = True
    elif state in FALSE:
        fields["is_active"] = False
    elif state:
        problems.append(("active", _("must be true or false")))
    for name in ("question", "answer"):
        if not fields[name]:
            problems.append((name, _("is required")))
    return fields, problems


def _dedupe_key(question: str) -> str:
    from .engine.normalize import normalize_buyer_text

    return normalize_buyer_text(question, strip_greetings=False)


# --------------------------------------------------------------------------- importing

def knowledge_import(
    *,
    actor,
    shop,
    data: bytes,
    fmt: str,
    skip_invalid: bool = False,
    on_duplicate: str = "error",
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportReport:
    """Import items into ``shop`` (None: shared items).

    Raises ``KnowledgeImportError`` with ``detail`` = every problem when a row is bad
    and ``skip_invalid`` is false; nothing is written then. Side effects: one
    transaction that locks the scope (imports into one shop run one after the other);
    the scope's stamp bumped; one reindex task queued after commit.
    """
    from .services import index_scope_lock

    if on_duplicate not in DUPLICATE_POLICIES:
        raise KnowledgeError(_("on_duplicate must be error, skip or update."), code="invalid_option")
    rows = read_rows(data, fmt)
    if not rows:
        raise KnowledgeImportError(_("The file has no rows."), code="import_empty")
    # Reading what the shop has and writing the new items form one transaction that holds
    # the scope's lock: two imports of one file (a double-clicked button, a resubmitted
    # page) would otherwise both find every item missing and both create it.
    with transaction.atomic():
        index_scope_lock(shop_id=getattr(shop, "pk", None))
        return _import_rows(actor=actor, shop=shop, rows=rows, skip_invalid=skip_invalid,
                            on_duplicate=on_duplicate, progress=progress)


def _import_rows(*, actor, shop, rows, skip_invalid, on_duplicate, progress) -> ImportReport:
    """Validate and write ``rows``; the caller holds the transaction and the scope's lock."""
    from .services import knowledge_item_create, knowledge_item_update
    from .tasks import reindex_items_task

    existing = KnowledgeItem.objects.filter(shop=shop)
    by_id = {i.external_id: i for i in existing.exclude(external_id="")}
    by_question = {_dedupe_key(i.question): i for i in existing}
    report = ImportReport()
    seen_ids, seen_questions = {}, {}
    updated_by = {}  # item pk → the row that updates it
    plan = []  # (row number, fields, existing item or None)
    for n, (number, raw) in enumerate(rows, 1):
        fields, problems = clean_row(raw)
        target = None
        if not problems:
            key = _dedupe_key(fields["question"])
            external_id = fields.get("external_id", "")
            if external_id and external_id in seen_ids:
                problems.append(("id", _("duplicate of row %(row)d") % {"row": seen_ids[external_id]}))
            elif key in seen_questions:
                problems.append(("question", _("duplicate of row %(row)d") % {"row": seen_questions[key]}))
            else:
                if external_id:
                    seen_ids[external_id] = number
                seen_questions[key] = number
                target = by_id.get(external_id) or by_question.get(key)
                matched_by = "id" if external_id in by_id else "question"
                if target is not None and on_duplicate == "error":
                    problems.append((matched_by, _("already in the knowledge base (item %(item)d)")
                                     % {"item": target.pk}))
                elif target is not None and on_duplicate == "update":
                    # Another id or question of the file can match the same item: the later
                    # row would silently undo the earlier one.
                    if target.pk in updated_by:
                        problems.append((matched_by, _("duplicate of row %(row)d (item %(item)d)")
                                         % {"row": updated_by[target.pk], "item": target.pk}))
                    else:
                        updated_by[target.pk] = number
        for name, message in problems:
            report.errors.append({"row": number, "field": name, "message": message})
        if problems or (target is not None and on_duplicate == "skip"):
            report.skipped += 1
        else:
            plan.append((number, fields, target))
        if progress:
            progress("validate", n, len(rows))
    if report.errors and not skip_invalid:
        raise KnowledgeImportError(
            _("%(problems)d problem(s) in %(rows)d row(s); nothing was imported.")
            % {"problems": len(report.errors), "rows": report.skipped},
            detail=report.errors,
        )
    for n, (_number, fields, target) in enumerate(plan, 1):
        if target is None:
            item = knowledge_item_create(actor=actor, shop=shop, reindex=False, **fields)
            report.created += 1
        else:
            similar = fields.pop("similar_questions", None)  # None: keep them
            item = knowledge_item_update(item=target, actor=actor, similar_questions=similar, reindex=False,
                                         **fields)
            report.updated += 1
        report.item_ids.append(item.pk)
        if progress:
            progress("import", n, len(plan))
    ids = list(report.item_ids)
    if ids:
        transaction.on_commit(lambda: reindex_items_task.delay(ids))
    return report


# --------------------------------------------------------------------------- exporting

def _export_row(item) -> dict:
    return {
        "id": item.external_id or str(item.pk),
        "question": item.question,
        "answer": item.answer,
        "category": item.category,
        "keywords": list(item.keywords or []),
        "similar_questions": item.similar_texts(),
        "active": item.is_active,
    }


def export_rows(items) -> list[dict]:
    """Items as export rows; ``id`` is the item's external id, or its primary key when it has none."""
    return [_export_row(item) for item in items.prefetch_related("similar_questions").order_by("pk")]


def _csv_quote(value: str) -> str:
    return "'" + value if _CSV_NEEDS_QUOTE.match(value) else value


def _shown(text: str) -> str:
    """A text for a message: control characters spelled out, cut to 60 characters."""
    text = without_control_characters(text)
    return text if len(text) <= 60 else text[:59] + "…"


def _xlsx_problems(item, cells: list[str]) -> list[dict]:
    """What keeps ``item``'s cells out of a workbook: ``[{"item", "field", "message"}]``."""
    known_as = f"id {_shown(item.external_id)}, " if item.external_id else ""
    name = f"item {item.pk} ({known_as}question {_shown(item.question)})"
    problems = []
    for column, value in zip(COLUMNS, cells, strict=True):
        match = CONTROL_CHARACTERS.search(value)
        if match:
            reason = f"contains the control character U+{ord(match.group()):04X}, which XLSX cannot hold"
        elif len(value) > XLSX_CELL_LIMIT:
            reason = f"is {len(value):,} characters long, more than the {XLSX_CELL_LIMIT:,} an XLSX cell holds"
        else:
            continue
        problems.append({"item": item.pk, "field": column, "message": f"{name}: its {column} {reason}"})
    return problems


def _xlsx(items: list, lines: list[list[str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    problems = [p for item, cells in zip(items, lines, strict=True) for p in _xlsx_problems(item, cells)]
    if problems:
        more = f" ({len(problems) - 1} more problem(s) besides)" if len(problems) > 1 else ""
        raise KnowledgeExportError(
            f"Cannot export as XLSX: {problems[0]['message']}{more}. Edit the item, or export as CSV or JSON Lines.",
            detail=problems,
        )

    def text_cell(value):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, also when it starts with "=" (openpyxl would make it a formula)
        return cell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("knowledge")
    sheet.append(list(COLUMNS))
    for cells in lines:
        sheet.append([text_cell(value) for value in cells])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def knowledge_export(*, items, fmt: str) -> bytes:
    """Serialise ``items`` (a queryset) as ``fmt``; import of the result gives the same items back.

    Raises ``KnowledgeExportError`` (``detail``: each item and field) when an item's text
    cannot go into an XLSX cell: a control character, or more than 32,767 characters.
    """
    items = list(items.prefetch_related("similar_questions").order_by("pk"))
    rows = [_export_row(item) for item in items]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")

    def flat(row):
        return [row["id"], row["question"], row["answer"], row["category"], "|".join(row["keywords"]),
                "|".join(row["similar_questions"]), "true" if row["active"] else "false"]

    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([_csv_quote(cell) for cell in flat(r)] for r in rows)
        # A BOM so Excel opens the Chinese text as UTF-8.
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    return _xlsx(items, [flat(r) for r in rows])
