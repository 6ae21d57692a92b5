"""Export and import files: the one mechanism every app's export and import uses.

Two shapes of file:

* a **table** — CSV, XLSX (openpyxl) or JSON Lines: one item a row, columns named by a
  header row (CSV, XLSX) or by each line's keys (JSONL). Rows are numbered as a person sees
  them: the spreadsheet row (the header is row 1) or the line of the JSONL file.
* a **document** — JSON: a ``format`` marker and sections of entries (``providers``,
  ``configs``…), each entry named ``section[i]``, with its code or name when it has one.

An import checks every row or entry and collects every problem with where it is
(``ImportReport.problem``; ``ImportReport.entry`` turns any refusal raised while one entry is
written into a problem of that entry, undoing that entry's writes). ``ImportReport.refuse``
then raises the app's error naming them all, so the caller's transaction writes nothing
unless every row is good. Every message is translatable and names the row and the field.

Exports: CSV with a BOM (Excel opens it as UTF-8) in which a cell a spreadsheet would run as
a formula (it starts with = + - @, a tab or a carriage return) is written behind a ``'``, as
OWASP advises against CSV injection (import takes the ``'`` off again); XLSX with every
cell written as text, refusing what a cell cannot hold; JSON Lines; JSON documents.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .exceptions import KefuError, validation_problems
from .validators import CONTROL_CHARACTERS, without_control_characters

TABLE_FORMATS = ("csv", "xlsx", "jsonl")
# The key of a raw row under which a reader puts what it found wrong with cells: [(column, message)].
CELL_PROBLEMS = "__cell_problems__"
# The key of a raw row that is not a row at all (a JSONL line that is no JSON object).
NOT_A_ROW = "__invalid__"
# Excel keeps at most this many characters in a cell; openpyxl cuts longer text silently.
XLSX_CELL_LIMIT = 32_767
# A cell exported behind a "'" and an imported cell that loses it. The "'*" makes it a
# round trip: a text that itself starts with "'" and a formula character gets one more.
_CSV_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_CSV_QUOTED = re.compile(r"'+[=+\-@\t\r]")


class ImportFileError(KefuError):
    """A file that cannot be read as the format it claims (apps raise their own subclass or code)."""

    code = "import_unreadable"


@dataclass
class ImportReport:
    """What an import did and what it refused.

    ``errors`` lists ``{"row", "field", "message"}``: ``row`` is the row number of a table or
    the name of a document's entry. ``sections`` counts outcomes per section of a document
    (``{"configs": {"created": 1}}``); ``tally`` holds other counts an app keeps.
    """

    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)
    item_ids: list = field(default_factory=list)
    sections: dict = field(default_factory=dict)
    tally: dict = field(default_factory=dict)

    def record(self, outcome: str, section: str | None = None) -> None:
        """Count one row as ``created``, ``updated``, ``skipped`` or ``unchanged`` (in ``section`` too)."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        if section:
            counts = self.sections.setdefault(section, {})
            counts[outcome] = counts.get(outcome, 0) + 1

    def count(self, name: str, n: int = 1) -> None:
        self.tally[name] = self.tally.get(name, 0) + n

    def problem(self, row, field_name: str, message: str) -> None:
        self.errors.append({"row": row, "field": field_name, "message": str(message)})

    @property
    def rows_with_errors(self) -> int:
        return len({e["row"] for e in self.errors})

    def summary(self) -> str:
        """``configs created: 1, configs unchanged: 2, secrets skipped: 1`` — for a command's output."""
        parts = [f"{section.replace('_', ' ')} {outcome}: {n}" for section, counts in self.sections.items()
                 for outcome, n in counts.items()]
        parts += [f"{name.replace('_', ' ')}: {n}" for name, n in self.tally.items()]
        return ", ".join(parts) or _("nothing to import")

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped, "errors": self.errors}

    @contextlib.contextmanager
    def entry(self, row):
        """Write one row or entry: a refusal raised inside (the app's error, a Django
        ValidationError, a missing key, a value of the wrong type) becomes a problem of ``row``
        and undoes what the entry wrote; the import goes on to the next one."""
        try:
            with transaction.atomic():
                yield
        except KefuError as exc:
            path = exc.detail[0].get("path") if isinstance(exc.detail, list) and len(exc.detail) == 1 and \
                isinstance(exc.detail[0], dict) else None
            self.problem(row, path or "", exc.message)
        except ValidationError as exc:
            for name, message in validation_problems(exc):
                self.problem(row, name, message)
        except KeyError as exc:
            self.problem(row, str(exc.args[0]), _("is missing"))
        except (TypeError, ValueError, AttributeError) as exc:
            self.problem(row, "", _("has a value of the wrong kind (%(error)s)") % {"error": exc})

    def refuse(self, error: type[KefuError] = KefuError, *, code: str = "import_invalid") -> None:
        """Raise ``error`` naming every problem when there is one; the message names the first."""
        if not self.errors:
            return
        message = problem_line(self.errors[0])
        if len(self.errors) > 1:
            message += " " + _("(%(n)d more problem(s) in %(rows)d row(s); nothing was imported)") % {
                "n": len(self.errors) - 1, "rows": self.rows_with_errors}
        raise error(message, code=code, detail=self.errors)

    def refuse_all(self, error: type[KefuError] = KefuError, *, code: str = "import_invalid") -> None:
        """Raise ``error`` with the count of problems and rows (a table import's summary) when there is one."""
        if self.errors:
            raise error(_("%(problems)d problem(s) in %(rows)d row(s); nothing was imported.")
                        % {"problems": len(self.errors), "rows": self.rows_with_errors}, code=code,
                        detail=self.errors)


def problem_line(problem: dict) -> str:
    """One problem of an import's ``detail`` as a line for a command's output."""
    where = entry_label(problem["row"])
    return f"{where}: {problem['field']}: {problem['message']}" if problem.get("field") else \
        f"{where}: {problem['message']}"


def entry_label(row) -> str:
    return _("row %(row)d") % {"row": row} if isinstance(row, int) else str(row)


def format_of(name: str, explicit: str | None = None, *, error: type[KefuError] = KefuError) -> str:
    """The table format of file ``name`` (by its suffix) unless ``explicit`` says which."""
    if explicit:
        if explicit not in TABLE_FORMATS:
            raise error(_("Unknown format %(format)r: use csv, xlsx or jsonl.") % {"format": explicit},
                        code="invalid_format")
        return explicit
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in ("jsonl", "json", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "xlsx"):
        return suffix
    raise error(_("Give a .csv, .xlsx or .jsonl file (or the format)."), code="invalid_format")


# --------------------------------------------------------------------------- files for commands

def read_input(path: str, *, error: type[KefuError] = ImportFileError) -> bytes:
    """The bytes of file ``path``, or of standard input for ``-``; ``error`` names the file otherwise."""
    import sys

    if path == "-":
        return sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise error(_("Cannot read %(path)s: %(why)s.") % {"path": path, "why": exc.strerror or exc},
                    code="import_unreadable") from None


def write_output(path: str, data: bytes, *, error: type[KefuError] = KefuError) -> None:
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise error(_("Cannot write %(path)s: %(why)s.") % {"path": path, "why": exc.strerror or exc},
                    code="export_unwritable") from None


# --------------------------------------------------------------------------- documents (JSON)

def read_document(data: bytes | str | dict, *, format_name: str, error: type[KefuError] = KefuError,
                  code: str = "import_invalid") -> dict:
    """A JSON document whose ``format`` is ``format_name``; ``error`` says what it is not."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
        except UnicodeDecodeError:
            raise error(_("The file is not UTF-8 text."), code=code) from None
        except ValueError as exc:
            raise error(_("The file is not JSON: %(error)s") % {"error": exc}, code=code) from None
    if not isinstance(data, dict) or data.get("format") != format_name:
        raise error(_("Not a %(format)s document (its \"format\" must be \"%(format)s\").") % {"format": format_name},
                    code=code)
    return data


def document_entries(document: dict, section: str, *, error: type[KefuError] = KefuError,
                     code: str = "import_invalid") -> list[tuple[str, dict]]:
    """The entries of ``section`` as ``(name, entry)``; the name is ``section[i]``, with the entry's
    code, key or name after it. Raises ``error`` when the section or an entry has the wrong shape."""
    entries = document.get(section, [])
    if not isinstance(entries, list):
        raise error(_("%(section)s: must be a list.") % {"section": section}, code=code)
    named = []
    for index, entry in enumerate(entries):
        known = next((entry[k] for k in ("code", "key", "name", "template") if isinstance(entry, dict)
                      and isinstance(entry.get(k), str) and entry[k]), None)
        label = f"{section}[{index}]" + (f" ({known})" if known else "")
        if not isinstance(entry, dict):
            raise error(_("%(entry)s: must be a JSON object.") % {"entry": label}, code=code)
        named.append((label, entry))
    return named


def required(entry: dict, name: str):
    """``entry[name]``; a ``KeyError`` (reported as "is missing" by ``ImportReport.entry``) when it is empty."""
    if entry.get(name) in (None, ""):
        raise KeyError(name)
    return entry[name]


def write_document(document: dict, *, sort_keys: bool = False) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=sort_keys) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- tables: reading

def read_table(data: bytes, fmt: str, *, required_columns: tuple[str, ...] = (),
               error: type[KefuError] = ImportFileError) -> list[tuple[int, dict]]:
    """Parse a table file into ``[(row number, raw fields)]``. Raises ``error`` if unreadable."""
    try:
        if fmt == "jsonl":
            return _read_jsonl(data)
        if fmt == "csv":
            return _read_csv(data, required_columns, error)
        return _read_xlsx(data, required_columns, error)
    except UnicodeDecodeError as exc:
        # Excel's plain "CSV" on a Chinese Windows is GBK: say how to save it instead.
        raise error(_("The file is not UTF-8 text. In Excel save it as \"CSV UTF-8\"; in other "
                      "programs choose the UTF-8 encoding when saving."), code="import_unreadable") from exc


def _read_jsonl(data: bytes) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(data.decode("utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        rows.append((number, value if isinstance(value, dict) else {NOT_A_ROW: _("not a JSON object")}))
    return rows


def _check_header(header: list, required_columns, error) -> list[str]:
    header = [str(h or "").strip().lower() for h in header]
    missing = [c for c in required_columns if c not in header]
    if missing:
        raise error(_("The header row lacks: %(columns)s.") % {"columns": ", ".join(missing)},
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


def _read_csv(data: bytes, required_columns, error) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    rows, number = [], 0  # number: the last row read; the header is row 1
    try:
        try:
            header = _check_header(next(reader), required_columns, error)
        except StopIteration as exc:
            raise error(_("The file is empty."), code="import_unreadable") from exc
        number = 1
        for number, values in enumerate(reader, 2):
            if any(v.strip() for v in values):
                rows.append((number, _by_header(header, (_csv_unquote(v) for v in values))))
    except csv.Error as exc:
        row = number + 1  # the row being read when it failed
        if "field larger than field limit" in str(exc):
            # csv's default limit, kept: it is above the longest cell an app's limits give
            # (200 similar questions of 500 characters), and it is process-wide state.
            message = _("a cell is longer than %(n)s characters, the most a CSV cell may have") % {
                "n": f"{csv.field_size_limit():,}"}
        else:
            message = _("not readable as CSV (%(error)s)") % {"error": exc}
        raise error(_("Row %(row)d: %(message)s.") % {"row": row, "message": message}, code="import_unreadable",
                    detail=[{"row": row, "field": "row", "message": message}]) from exc
    return rows


def _read_xlsx(data: bytes, required_columns, error) -> list[tuple[int, dict]]:
    from openpyxl import load_workbook

    try:
        # A cell is read as the spreadsheet last showed it (its saved result when it is a
        # formula); the second reading tells which cells are formulas.
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False).worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise error(_("The file is not an XLSX workbook."), code="import_unreadable") from exc
    lines = zip(sheet.iter_rows(values_only=True), formulas.iter_rows(), strict=False)
    try:
        header = _check_header(list(next(lines)[0]), required_columns, error)
    except StopIteration as exc:
        raise error(_("The workbook is empty."), code="import_unreadable") from exc
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


# --------------------------------------------------------------------------- tables: writing

def _csv_quote(value: str) -> str:
    return "'" + value if _CSV_NEEDS_QUOTE.match(value) else value


def shown(text: str) -> str:
    """A text for a message: control characters replaced, cut to 60 characters."""
    text = without_control_characters(text)
    return text if len(text) <= 60 else text[:59] + "…"


def _xlsx_problems(columns, cells: list[str], row_name: str, row_id) -> list[dict]:
    problems = []
    for column, value in zip(columns, cells, strict=True):
        match = CONTROL_CHARACTERS.search(value)
        if match:
            reason = f"contains the control character U+{ord(match.group()):04X}, which XLSX cannot hold"
        elif len(value) > XLSX_CELL_LIMIT:
            reason = f"is {len(value):,} characters long, more than the {XLSX_CELL_LIMIT:,} an XLSX cell holds"
        else:
            continue
        problems.append({"item": row_id, "field": column, "message": f"{row_name}: its {column} {reason}"})
    return problems


def write_table(columns, rows: list[list[str]], fmt: str, *, sheet: str = "export", records: list[dict] | None = None,
                names: list[tuple[str, object]] | None = None, error: type[KefuError] = KefuError) -> bytes:
    """Serialise a table: ``rows`` of text cells under ``columns`` as CSV or XLSX, or ``records``
    (one JSON object a row) as JSON Lines.

    For XLSX ``names`` gives each row's ``(name for a message, id)``: a cell that XLSX cannot
    hold (a control character, more than 32,767 characters) raises ``error`` (``export_invalid``)
    naming the row and the column, with every such cell in ``detail``.
    """
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([_csv_quote(cell) for cell in row] for row in rows)
        # A BOM so Excel opens the Chinese text as UTF-8.
        return ("\ufeff" + out.getvalue()).encode("utf-8")
    return _xlsx(columns, rows, sheet, names or [(f"row {n}", n) for n in range(2, len(rows) + 2)], error)


def _xlsx(columns, rows, sheet_name, names, error) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    problems = [p for (name, row_id), cells in zip(names, rows, strict=True)
                for p in _xlsx_problems(columns, cells, name, row_id)]
    if problems:
        more = f" ({len(problems) - 1} more problem(s) besides)" if len(problems) > 1 else ""
        raise error(
            f"Cannot export as XLSX: {problems[0]['message']}{more}. Edit the item, or export as CSV or JSON Lines.",
            code="export_invalid", detail=problems,
        )

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)

    def text_cell(value):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, also when it starts with "=" (openpyxl would make it a formula)
        return cell

    sheet.append(list(columns))
    for cells in rows:
        sheet.append([text_cell(value) for value in cells])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
