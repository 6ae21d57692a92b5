"""The shared export/import mechanism, apart from any app (each app's own tests cover its files)."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import User
from kefu import transfer
from kefu.exceptions import KefuError


class ShopImportError(KefuError):
    code = "shop_import"


@pytest.mark.django_db
def test_each_refusal_in_an_entry_becomes_a_problem_of_that_entry_and_undoes_its_writes():
    report = transfer.ImportReport()
    with report.entry("users[0] (ann)"):
        User.objects.create(username="ann")
        raise ValidationError({"email": ["Enter a valid email address."]})
    with report.entry("users[1]"):
        transfer.required({"name": ""}, "name")
    with report.entry(4):
        raise ShopImportError("unknown shop “x”")
    with report.entry("users[3]"):
        int("many")
    with report.entry("users[4]"):
        User.objects.create(username="bob")
        report.record("created", "users")
    assert [(e["row"], e["field"]) for e in report.errors] == [
        ("users[0] (ann)", "email"), ("users[1]", "name"), (4, ""), ("users[3]", "")]
    assert list(User.objects.values_list("username", flat=True)) == ["bob"]
    assert (report.created, report.sections, report.rows_with_errors) == (1, {"users": {"created": 1}}, 4)

    with pytest.raises(ShopImportError) as caught:
        report.refuse(ShopImportError)
    assert caught.value.code == "import_invalid" and caught.value.detail == report.errors
    assert caught.value.message == ("users[0] (ann): email: Enter a valid email address. "
                                    "(3 more problem(s) in 4 row(s); nothing was imported)")
    assert transfer.problem_line(report.errors[2]) == "row 4: unknown shop “x”"


def test_a_report_without_problems_refuses_nothing_and_sums_up_what_it_did():
    report = transfer.ImportReport()
    report.record("created", "configs")
    report.record("unchanged", "configs")
    report.count("secrets_skipped", 2)
    report.refuse(ShopImportError)
    report.refuse_all(ShopImportError)
    assert report.summary() == "configs created: 1, configs unchanged: 1, secrets skipped: 2"


def test_a_document_must_carry_its_format_and_sections_of_objects():
    with pytest.raises(ShopImportError, match="not JSON"):
        transfer.read_document(b"{oops", format_name="kefu-shops/1", error=ShopImportError)
    with pytest.raises(ShopImportError, match="Not a kefu-shops/1 document"):
        transfer.read_document({"format": "other"}, format_name="kefu-shops/1", error=ShopImportError)
    document = transfer.read_document(b'{"format": "kefu-shops/1", "shops": [{"code": "s1"}, {}]}',
                                      format_name="kefu-shops/1", error=ShopImportError)
    assert [label for label, _entry in transfer.document_entries(document, "shops")] == ["shops[0] (s1)", "shops[1]"]
    with pytest.raises(ShopImportError, match=r"shops\[0\]: must be a JSON object"):
        transfer.document_entries({"shops": ["s1"]}, "shops", error=ShopImportError)
    with pytest.raises(ShopImportError, match="shops: must be a list"):
        transfer.document_entries({"shops": {}}, "shops", error=ShopImportError)


def test_files_that_cannot_be_read_or_written_are_named(tmp_path):
    with pytest.raises(ShopImportError, match=f"Cannot read {tmp_path / 'none.json'}: No such file"):
        transfer.read_input(str(tmp_path / "none.json"), error=ShopImportError)
    with pytest.raises(ShopImportError, match=r"Cannot write .*: No such file"):
        transfer.write_output(str(tmp_path / "no" / "out.json"), b"{}", error=ShopImportError)
    transfer.write_output(str(tmp_path / "out.json"), transfer.write_document({"format": "x"}))
    assert transfer.read_input(str(tmp_path / "out.json")) == b'{\n  "format": "x"\n}\n'


def test_a_table_round_trips_through_each_format_with_formula_cells_quoted_in_csv():
    columns = ("code", "note")
    rows = [["a1", "=1+1"], ["a2", "普通"]]
    csv_data = transfer.write_table(columns, rows, "csv")
    assert csv_data.startswith("\ufeff".encode()) and b"'=1+1" in csv_data
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    for fmt in transfer.TABLE_FORMATS:
        data = transfer.write_table(columns, rows, fmt, records=records)
        assert [raw for _n, raw in transfer.read_table(data, fmt, required_columns=columns)] == records
    with pytest.raises(ShopImportError, match="lacks: note") as caught:
        transfer.read_table(b"code\nx\n", "csv", required_columns=columns, error=ShopImportError)
    assert caught.value.detail == [{"row": 1, "field": "note", "message": "missing column"}]


def test_xlsx_refuses_a_cell_it_cannot_hold_naming_the_row():
    with pytest.raises(ShopImportError) as caught:
        transfer.write_table(("code",), [["ok"], ["bad\x0b"]], "xlsx", names=[("a", 1), ("shop b", 2)],
                             error=ShopImportError)
    assert caught.value.code == "export_invalid" and caught.value.detail[0]["item"] == 2
    assert "shop b: its code contains the control character U+000B" in caught.value.message
