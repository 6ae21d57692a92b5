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

Reading, writing and reporting are ``kefu.transfer``'s (formula cells quoted in CSV,
XLSX cells written as text).
"""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kefu import transfer
from kefu.exceptions import validation_problems
from kefu.transfer import CELL_PROBLEMS, NOT_A_ROW, ImportReport
from kefu.validators import validate_no_control_characters

from .exceptions import KnowledgeError
from .models import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX,
    SIMILAR_QUESTION_MAX_LENGTH,
    SIMILAR_QUESTIONS_MAX,
    KnowledgeItem,
)

__all__ = ["COLUMNS", "DUPLICATE_POLICIES", "FORMATS", "ImportReport", "KnowledgeExportError",
           "KnowledgeImportError", "clean_row", "format_of", "knowledge_export", "knowledge_import", "read_rows"]

TEXT_LIST_LIMITS = {
    "keywords": (KEYWORD_MAX_LENGTH, KEYWORDS_MAX),
    "similar_questions": (SIMILAR_QUESTION_MAX_LENGTH, SIMILAR_QUESTIONS_MAX),
}

COLUMNS = ("id", "question", "answer", "category", "keywords", "similar_questions", "active")
FORMATS = transfer.TABLE_FORMATS
TRUE = {"1", "true", "yes", "y", "是", "启用", "on"}
FALSE = {"0", "false", "no", "n", "否", "停用", "off"}
LIMITS = {"id": 100, "question": 500, "category": 100}
DUPLICATE_POLICIES = ("error", "skip", "update")


class KnowledgeImportError(KnowledgeError):
    code = "import_invalid"


class KnowledgeExportError(KnowledgeError):
    code = "export_invalid"


def format_of(name: str, explicit: str | None = None) -> str:
    return transfer.format_of(name, explicit, error=KnowledgeError)


def read_rows(data: bytes, fmt: str) -> list[tuple[int, dict]]:
    """Parse a file into ``[(row number, raw fields)]``. Raises ``KnowledgeImportError`` if unreadable."""
    return transfer.read_table(data, fmt, required_columns=("question", "answer"), error=KnowledgeImportError)


# --------------------------------------------------------------------------- validating

def _check_characters(value: str, name: str, problems) -> None:
    try:
        validate_no_control_characters(value)
    except ValidationError as exc:
        problems.extend((name, message) for _field, message in validation_problems(exc))


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
    if NOT_A_ROW in raw:
        return {}, [("row", raw[NOT_A_ROW])]

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
            report.problem(number, name, message)
        if problems or (target is not None and on_duplicate == "skip"):
            report.record("skipped")
        else:
            plan.append((number, fields, target))
        if progress:
            progress("validate", n, len(rows))
    if not skip_invalid:
        report.refuse_all(KnowledgeImportError)
    for n, (_number, fields, target) in enumerate(plan, 1):
        if target is None:
            item = knowledge_item_create(actor=actor, shop=shop, reindex=False, **fields)
            report.record("created")
        else:
            similar = fields.pop("similar_questions", None)  # None: keep them
            item = knowledge_item_update(item=target, actor=actor, similar_questions=similar, reindex=False,
                                         **fields)
            report.record("updated")
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


def _export_name(item) -> str:
    """How an export's messages name ``item``."""
    known_as = f"id {transfer.shown(item.external_id)}, " if item.external_id else ""
    return f"item {item.pk} ({known_as}question {transfer.shown(item.question)})"


def knowledge_export(*, items, fmt: str) -> bytes:
    """Serialise ``items`` (a queryset) as ``fmt``; import of the result gives the same items back.

    Raises ``KnowledgeExportError`` (``detail``: each item and field) when an item's text
    cannot go into an XLSX cell: a control character, or more than 32,767 characters.
    """
    items = list(items.prefetch_related("similar_questions").order_by("pk"))
    rows = [_export_row(item) for item in items]

    def flat(row):
        return [row["id"], row["question"], row["answer"], row["category"], "|".join(row["keywords"]),
                "|".join(row["similar_questions"]), "true" if row["active"] else "false"]

    return transfer.write_table(COLUMNS, [flat(r) for r in rows], fmt, sheet="knowledge", records=rows,
                                names=[(_export_name(item), item.pk) for item in items], error=KnowledgeExportError)
