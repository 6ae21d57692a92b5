import csv
import io
import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from knowledge import services
from knowledge.exceptions import KnowledgeError
from knowledge.models import KnowledgeItem
from knowledge.transfer import KnowledgeImportError, knowledge_export, knowledge_import

pytestmark = pytest.mark.django_db

GOOD_CSV = (
    "id,question,answer,category,keywords,similar_questions,active\n"
    "c1,蛋糕能保存几天？,冷藏两天。,保存,保存|冷藏,保质期多久|放冰箱能放几天,true\n"
    "c2,可以写字吗？,可以写祝福语。,定制,写字,,false\n"
    'c3,"有坚果吗，过敏怎么办？","部分含坚果,请选无坚果款。",成分,,,\n'
)
BAD_CSV = (
    "id,question,answer,category,keywords,similar_questions,active\n"
    "c1,蛋糕能保存几天？,冷藏两天。,保存,,,true\n"
    "c2,,没有问题的答案,,,,\n"
    "c3,可以写字吗？,,定制,,,maybe\n"
    "c1,另一个问题,答案,,,,\n"
    "c5,蛋糕能保存几天？,重复的问题,,,,\n"
    "c6,好问题,好答案,,,,\n"
)


def do_import(shop, text, fmt="csv", **options):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return knowledge_import(actor=None, shop=shop, data=data, fmt=fmt, **options)


def as_format(csv_text: str, fmt: str) -> bytes:
    """The rows of a CSV text as ``fmt``: an XLSX sheet, or JSON objects keyed by the header's columns."""
    header, *rows = list(csv.reader(io.StringIO(csv_text, newline="")))
    if fmt == "csv":
        return csv_text.encode("utf-8")
    if fmt == "jsonl":
        return "".join(json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False) + "\n"
                       for row in rows).encode("utf-8")
    book = Workbook()
    for row in [header, *rows]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def row_of(fmt: str, line: int) -> int:
    """The number import gives the ``line``-th data line of a file made by ``as_format`` (JSONL has no header)."""
    return line if fmt == "jsonl" else line + 1


def cake_item(shop, **fields):
    """An item with every field filled: category, keywords, a similar question, an external id; inactive."""
    return services.knowledge_item_create(
        actor=None, shop=shop, **{"question": "蛋糕能保存几天？", "answer": "冷藏两天。", "category": "保存",
                                  "keywords": ["保存", "冷藏"], "similar_questions": ["保质期多久"],
                                  "external_id": "c1", "is_active": False, **fields})


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_good_file_imports_with_lists_and_flags(world):
    report = do_import(world.shop, GOOD_CSV)
    assert (report.created, report.skipped, report.errors) == (3, 0, [])
    item = KnowledgeItem.objects.get(external_id="c1")
    assert item.shop == world.shop and item.keywords == ["保存", "冷藏"]
    assert item.similar_texts() == ["保质期多久", "放冰箱能放几天"]
    assert KnowledgeItem.objects.get(external_id="c2").is_active is False
    assert KnowledgeItem.objects.get(external_id="c3").answer == "部分含坚果,请选无坚果款。"


def test_a_bad_file_reports_every_bad_row_and_changes_nothing(world):
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, BAD_CSV)
    problems = {(p["row"], p["field"]) for p in info.value.detail}
    assert problems == {(3, "question"), (4, "answer"), (4, "active"), (5, "id"), (6, "question")}
    assert not KnowledgeItem.all_objects.exists()


def test_skip_invalid_loads_the_good_rows_and_reports_the_rest(world):
    report = do_import(world.shop, BAD_CSV, skip_invalid=True)
    assert report.created == 2 and report.skipped == 4
    assert set(KnowledgeItem.objects.values_list("external_id", flat=True)) == {"c1", "c6"}


def test_duplicates_of_existing_items_are_errors_or_skipped_or_updated(world):
    do_import(world.shop, GOOD_CSV)
    with pytest.raises(KnowledgeImportError, match="nothing was imported"):
        do_import(world.shop, GOOD_CSV)
    assert do_import(world.shop, GOOD_CSV, on_duplicate="skip").skipped == 3
    changed = GOOD_CSV.replace("冷藏两天。", "冷藏三天。")
    assert do_import(world.shop, changed, on_duplicate="update").updated == 3
    assert KnowledgeItem.objects.get(external_id="c1").answer == "冷藏三天。"
    assert KnowledgeItem.objects.count() == 3


def test_an_import_queues_one_vector_build_for_all_its_items(world, django_capture_on_commit_callbacks):
    do_import(world.shop, GOOD_CSV)
    changed = GOOD_CSV.replace("冷藏两天。", "冷藏三天。")
    with django_capture_on_commit_callbacks() as callbacks:
        assert do_import(world.shop, changed, on_duplicate="update").updated == 3
    assert len(callbacks) == 1


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_an_update_changes_only_the_columns_the_file_has(world, fmt):
    item = cake_item(world.shop)
    report = do_import(world.shop, as_format("question,answer\n蛋糕能保存几天？,冷藏三天。\n新问题,新答案\n", fmt), fmt,
                       on_duplicate="update")
    assert (report.created, report.updated) == (1, 1)
    item.refresh_from_db()
    assert (item.answer, item.category, item.keywords, item.external_id, item.is_active) == (
        "冷藏三天。", "保存", ["保存", "冷藏"], "c1", False)
    assert item.similar_texts() == ["保质期多久"]
    new = KnowledgeItem.objects.get(question="新问题")
    assert (new.category, new.keywords, new.external_id, new.is_active) == ("", [], "", True)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_an_update_empties_a_column_the_file_has_but_keeps_a_blank_id_or_state(world, fmt):
    item = cake_item(world.shop)
    text = "id,question,answer,category,keywords,similar_questions,active\n,蛋糕能保存几天？,冷藏三天。,,,,\n"
    assert do_import(world.shop, as_format(text, fmt), fmt, on_duplicate="update").updated == 1
    item.refresh_from_db()
    assert (item.category, item.keywords, item.similar_texts()) == ("", [], [])
    # A blank id or state says nothing: the item is still found by its id later, and stays off.
    assert (item.external_id, item.is_active) == ("c1", False)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_two_rows_that_match_one_item_are_duplicates(world, fmt):
    item = cake_item(world.shop, question="老问题", answer="老答案")
    text = as_format("id,question,answer\nc1,新问题,新答案\n,老问题,另一个答案\n", fmt)
    with pytest.raises(KnowledgeImportError, match="nothing was imported") as info:
        do_import(world.shop, text, fmt, on_duplicate="update")
    assert info.value.detail == [{"row": row_of(fmt, 2), "field": "question",
                                  "message": f"duplicate of row {row_of(fmt, 1)} (item {item.pk})"}]
    item.refresh_from_db()
    assert (item.question, item.answer) == ("老问题", "老答案")
    report = do_import(world.shop, text, fmt, on_duplicate="update", skip_invalid=True)
    assert (report.updated, report.skipped, [e["row"] for e in report.errors]) == (1, 1, [row_of(fmt, 2)])
    item.refresh_from_db()
    assert (item.question, item.answer, KnowledgeItem.objects.count()) == ("新问题", "新答案", 1)


def test_the_same_question_in_another_shop_is_not_a_duplicate(world):
    do_import(world.shop, GOOD_CSV)
    assert do_import(world.other_shop, GOOD_CSV).created == 3


# Texts a spreadsheet would take for formulas, and one that already looks escaped.
FORMULA_LIKE = {"question": "=1+1 是多少？", "answer": '=HYPERLINK("http://evil.example","点我领券")',
                "category": "'=不是公式", "keywords": ["+加急", "@店长", "-甜"], "similar_questions": ["-能便宜点吗"],
                "external_id": "@c9"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_export_then_import_round_trips_exactly(world, fmt):
    do_import(world.shop, GOOD_CSV)
    services.knowledge_item_create(actor=None, shop=world.shop, **FORMULA_LIKE)
    services.knowledge_item_create(actor=None, shop=world.shop, question="满减能叠加吗？", answer="=满200减30，可叠加",
                                   external_id="+c10")
    exported = knowledge_export(items=KnowledgeItem.objects.filter(shop=world.shop), fmt=fmt)
    report = do_import(world.other_shop, exported, fmt=fmt)
    assert report.created == 5
    again = knowledge_export(items=KnowledgeItem.objects.filter(shop=world.other_shop), fmt=fmt)
    if fmt == "xlsx":
        from knowledge.transfer import read_rows

        assert read_rows(again, "xlsx") == read_rows(exported, "xlsx")
    else:
        assert again == exported
    fields = ("external_id", "question", "answer", "category", "keywords", "is_active")
    mine = list(KnowledgeItem.objects.filter(shop=world.shop).order_by("external_id").values_list(*fields))
    theirs = list(KnowledgeItem.objects.filter(shop=world.other_shop).order_by("external_id").values_list(*fields))
    assert mine == theirs
    similar = [i.similar_texts() for i in KnowledgeItem.objects.filter(shop=world.other_shop).order_by("external_id")]
    assert similar == [i.similar_texts() for i in KnowledgeItem.objects.filter(shop=world.shop).order_by("external_id")]


def test_csv_export_starts_no_cell_with_a_formula_character(world):
    services.knowledge_item_create(actor=None, shop=world.shop, **FORMULA_LIKE)
    exported = knowledge_export(items=KnowledgeItem.objects.filter(shop=world.shop), fmt="csv").decode("utf-8-sig")
    header, row = list(csv.reader(io.StringIO(exported, newline="")))
    assert not [cell for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dict(zip(header, row, strict=True)) == {
        "id": "'@c9", "question": "'=1+1 是多少？", "answer": '\'=HYPERLINK("http://evil.example","点我领券")',
        "category": "''=不是公式", "keywords": "'+加急|@店长|-甜", "similar_questions": "'-能便宜点吗",
        "active": "true",
    }


def test_xlsx_export_writes_text_that_looks_like_a_formula_as_text(world):
    services.knowledge_item_create(actor=None, shop=world.shop, question="满减能叠加吗？", answer="=满200减30，可叠加")
    exported = knowledge_export(items=KnowledgeItem.objects.filter(shop=world.shop), fmt="xlsx")
    answer = load_workbook(io.BytesIO(exported)).worksheets[0]["C2"]
    assert (answer.value, answer.data_type) == ("=满200减30，可叠加", "s")


# (No NUL here: PostgreSQL cannot store it, so no stored item can hold one.)
@pytest.mark.parametrize(("field", "text"), [("answer", "冷藏\x0b两天。"), ("category", "保\x1f存"),
                                             ("answer", "长" * 32_768)])
def test_xlsx_export_names_the_item_and_field_xlsx_cannot_hold(world, tmp_path, field, text):
    item = cake_item(world.shop)
    KnowledgeItem.objects.filter(pk=item.pk).update(**{field: text})  # stored before such text was refused
    with pytest.raises(KnowledgeError) as info:
        knowledge_export(items=KnowledgeItem.objects.filter(shop=world.shop), fmt="xlsx")
    assert info.value.code == "export_invalid"
    assert f"item {item.pk} (id c1, question 蛋糕能保存几天？)" in info.value.message
    assert f"its {field} " in info.value.message
    err = StringIO()
    with pytest.raises(CommandError, match=f"item {item.pk} "):
        call_command("kb_export", str(tmp_path / "out.xlsx"), "--shop", world.shop.name, stderr=err)
    assert not (tmp_path / "out.xlsx").exists()


def test_xlsx_rows_are_numbered_as_in_the_spreadsheet(world):
    book = Workbook()
    sheet = book.active
    sheet.append(["question", "answer", "keywords"])
    sheet.append(["好问题", "好答案", "a|b"])
    sheet.append(["没有答案", None, None])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, out.getvalue(), fmt="xlsx")
    assert info.value.detail == [{"row": 3, "field": "answer", "message": "is required"}]


def test_jsonl_lines_that_are_not_objects_are_reported_by_line(world):
    text = '{"question": "q1", "answer": "a1"}\n[1, 2]\n\n{"question": "q2", "answer": "a2", "keywords": "x"}\n'
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, text, fmt="jsonl")
    assert info.value.detail == [{"row": 2, "field": "row", "message": "not a JSON object"}]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_control_characters_are_refused_with_their_row(world, fmt):
    text = as_format("question,answer,keywords\n好问题,好答案,\n好问题2,好\x00答案,\n坏\x0b问题,答案,\n"
                     "问题4,答案,a|b\x00\n", fmt)
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, text, fmt)
    assert [(p["row"], p["field"]) for p in info.value.detail] == [
        (row_of(fmt, 2), "answer"), (row_of(fmt, 3), "question"), (row_of(fmt, 4), "keywords")]
    assert "U+0000" in info.value.detail[0]["message"]
    assert not KnowledgeItem.objects.exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_oversized_keyword_lists_are_reported_with_their_row(world, fmt):
    too_many = "|".join(f"词{n}" for n in range(51))
    text = as_format(f"question,answer,keywords,similar_questions\n好问题,好答案,{'长' * 101},\n"
                     f"问题2,答案,{too_many},\n问题3,答案,,{'问' * 501}\n问题4,答案,发货,\n", fmt)
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, text, fmt)
    assert [(p["row"], p["field"], p["message"]) for p in info.value.detail] == [
        (row_of(fmt, 1), "keywords", "an entry is longer than 100 characters"),
        (row_of(fmt, 2), "keywords", "at most 50 entries"),
        (row_of(fmt, 3), "similar_questions", "an entry is longer than 500 characters"),
    ]
    assert not KnowledgeItem.objects.exists()


def test_a_csv_cell_too_long_to_read_is_reported_with_its_row(world, tmp_path):
    text = "question,answer\n好问题,好答案\n长答案," + "长" * 200_000 + "\n"
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, text)
    assert info.value.detail == [{"row": 3, "field": "row", "message": info.value.detail[0]["message"]}]
    assert "longer than 131,072 characters" in info.value.message
    source = tmp_path / "long.csv"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError, match="Row 3: a cell is longer than"):
        call_command("kb_import", str(source), "--shop", world.shop.name, "--no-progress", stderr=StringIO())
    upload = SimpleUploadedFile("long.csv", text.encode("utf-8"))
    response = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_import"),
                                                {"shop": world.shop.pk, "file": upload, "on_duplicate": "error"})
    assert response.status_code == 200 and [e["row"] for e in response.context["errors"]] == [3]
    assert not KnowledgeItem.objects.exists()


def test_kb_export_to_a_path_that_cannot_be_written_is_a_command_error(world, tmp_path):
    target = tmp_path / "nope" / "o.csv"
    with pytest.raises(CommandError, match=f"Cannot write {target}: No such file or directory"):
        call_command("kb_export", str(target), "--shop", world.shop.name)


def test_a_file_without_the_required_columns_is_refused(world):
    with pytest.raises(KnowledgeImportError, match="lacks"):
        do_import(world.shop, "id,title\n1,x\n")


def test_the_commands_import_and_export_by_shop_name(world, tmp_path):
    source = tmp_path / "faq.csv"
    source.write_text(GOOD_CSV, encoding="utf-8")
    out = StringIO()
    call_command("kb_import", str(source), "--shop", world.shop.name, "--no-progress", stdout=out)
    assert json.loads(out.getvalue())["created"] == 3
    target = tmp_path / "out.jsonl"
    call_command("kb_export", str(target), "--shop", world.shop.name, stdout=StringIO())
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("kb_import", str(bad), "--shop", world.other_shop.name, stderr=err)
    assert "row 3: question: is required" in err.getvalue()
    with pytest.raises(CommandError, match="No shop"):
        call_command("kb_import", str(source), "--shop", "无此店")


def test_kb_reindex_builds_vectors_for_stale_items_only(world):
    from knowledge.models import KnowledgeVector

    do_import(world.shop, GOOD_CSV)
    out = StringIO()
    call_command("kb_reindex", "--shop", world.shop.name, "--stale-only", "--no-progress", stdout=out)
    assert json.loads(out.getvalue())["items"] == 3
    assert KnowledgeVector.objects.exists()
    out = StringIO()
    call_command("kb_reindex", "--stale-only", "--no-progress", stdout=out)
    assert json.loads(out.getvalue())["skipped"] == 3


@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_creates_each_item_once(world):
    """A double-clicked import button sends the file twice; the second import must see the first's items."""
    import contextlib
    import threading

    from django.db import connection

    rows = "question,answer\n" + "".join(f"问题{n}？,答案{n}\n" for n in range(20))
    both_validating = threading.Barrier(2)
    outcomes = []

    def wait_for_the_other(stage, done, total):
        # Before the fix both imports read the shop's items before either wrote any.
        if stage == "validate" and done == total:
            # A broken barrier: the other import waits for the lock this one holds.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_validating.wait(timeout=3)

    def run():
        try:
            outcomes.append(do_import(world.shop, rows, progress=wait_for_the_other).created)
        except KnowledgeImportError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert KnowledgeItem.objects.filter(shop=world.shop).count() == 20
    assert sorted(outcomes, key=str) == sorted([20, "import_invalid"], key=str)


def _workbook_with_formulas(results: dict[str, str]) -> bytes:
    """An XLSX whose row 2 has a formula answer and category; ``results``: cell → the saved result
    a spreadsheet program would have written (openpyxl writes none)."""
    import zipfile

    book = Workbook()
    book.active.append(["question", "answer", "category"])
    book.active.append(["能开发票吗？", "=1+1", '=CONCATENATE("发","票")'])
    out = io.BytesIO()
    book.save(out)
    source, patched = zipfile.ZipFile(io.BytesIO(out.getvalue())), io.BytesIO()
    with zipfile.ZipFile(patched, "w") as target:
        for entry in source.infolist():
            content = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                text = content.decode()
                for cell, result in results.items():
                    start = text.index(f'<c r="{cell}"')
                    end = text.index("</c>", start)
                    text = text[:start] + text[start:end].replace("<v />", f"<v>{result}</v>").replace(
                        "<c ", '<c t="str" ', 1) + text[end:]
                content = text.encode()
            target.writestr(entry, content)
    return patched.getvalue()


def test_an_xlsx_formula_without_a_saved_result_is_a_row_problem_not_a_blank(world):
    item = services.knowledge_item_create(actor=None, shop=world.shop, question="能开发票吗？", answer="可以开。",
                                          category="发票")
    data = _workbook_with_formulas({"B2": "可以开电子发票。"})  # the category formula has no saved result
    with pytest.raises(KnowledgeImportError) as info:
        do_import(world.shop, data, fmt="xlsx", on_duplicate="update")
    assert [(e["row"], e["field"]) for e in info.value.detail] == [(2, "category")]
    assert "formula" in info.value.detail[0]["message"]
    item.refresh_from_db()
    assert (item.answer, item.category) == ("可以开。", "发票")


def test_an_xlsx_formula_is_read_as_the_result_the_spreadsheet_saved(world):
    report = do_import(world.shop, _workbook_with_formulas({"B2": "可以开电子发票。", "C2": "发票"}), fmt="xlsx")
    item = KnowledgeItem.objects.get(pk=report.item_ids[0])
    assert (item.answer, item.category) == ("可以开电子发票。", "发票")


@pytest.mark.django_db(transaction=True)
def test_an_import_and_an_edit_of_the_same_item_at_once_both_finish(world):
    """Every writer takes the scope's stamp before the items: an import updating an item that an
    edit holds waits for the edit to commit, rather than PostgreSQL aborting one of them (deadlock)."""
    import threading

    from django.db import connection

    item = services.knowledge_item_create(actor=None, shop=world.shop, question="蛋糕能保存几天？", answer="两天。",
                                          reindex=False)
    edit_holds_the_item, import_is_writing = threading.Event(), threading.Event()
    outcomes = {}

    def items_of_the_edit():
        yield KnowledgeItem.objects.get(pk=item.pk)
        # The edit is in its transaction with the item it changes; SQLite runs the import after it.
        edit_holds_the_item.set()
        import_is_writing.wait(timeout=3)

    def rows_validated(stage, done, total):
        if stage == "validate" and done == total:
            import_is_writing.set()

    def run(name, work):
        try:
            work()
            outcomes[name] = "ok"
        except Exception as exc:  # the outcome is what the test looks at
            outcomes[name] = repr(exc)
        finally:
            connection.close()

    edit = threading.Thread(target=run, args=("edit", lambda: services.knowledge_items_set_active(
        items=items_of_the_edit(), actor=None, active=False)))
    importing = threading.Thread(target=run, args=("import", lambda: do_import(
        world.shop, "question,answer\n蛋糕能保存几天？,冷藏三天。\n", on_duplicate="update",
        progress=rows_validated)))
    edit.start()
    assert edit_holds_the_item.wait(timeout=10)
    importing.start()
    for thread in (edit, importing):
        thread.join(timeout=60)
    assert outcomes == {"edit": "ok", "import": "ok"}
    item.refresh_from_db()
    assert item.answer == "冷藏三天。" and not item.is_active
