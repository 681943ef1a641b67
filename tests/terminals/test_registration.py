"""Production batches from CSV: row-by-row validation, all or nothing, progress."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from terminals.models import RegistrationBatch, Terminal
from terminals.services.registration import batch_import
from tests.terminals.factories import b1s, in_stock

pytestmark = pytest.mark.django_db
HEADER = "serial,model,hardware_revision,manufacture_date\n"


def upload(world, content: str):
    b1s()
    client = APIClient()
    client.force_login(world.ops["ops_admin"])
    return client.post(
        reverse("terminal-batch-list"), {"filename": "b.csv", "content": content}, format="json"
    )


def test_good_batch_is_imported(world):
    response = upload(
        world, HEADER + "WST01-00000101,WST01,B,2026-10-01\nWST01-00000102,WST01,B,2026-10-01\n"
    )
    assert response.status_code == 202
    batch = batch_import(batch_id=response.json()["id"])
    assert batch.state == "imported" and batch.processed_rows == 2
    terminal = Terminal.objects.get(serial="WST01-00000102")
    assert terminal.bluetooth_name == "WST01-0102" and terminal.state == "in_stock"


def test_every_bad_row_is_reported_and_nothing_is_imported(world):
    (existing,) = in_stock()
    rows = [
        "WST01-00000201,WST01,B,2026-10-01",  # fine
        "WST02-00000202,WST01,B,2026-10-01",  # bad serial prefix
        "WST01-00000203,XX99,B,2026-10-01",  # unknown model
        "WST01-00000204,WST01,,2026-13-01",  # no revision, bad date
        "WST01-00000201,WST01,B,2026-10-01",  # duplicate of line 2
        f"{existing.serial},WST01,B,2026-10-01",  # already registered
        "WST01-00000207,WST01,B",  # short row
        "WST01-00000208,WST01,B,2999-01-01",  # future
    ]
    response = upload(world, HEADER + "\n".join(rows) + "\n")
    batch = batch_import(batch_id=response.json()["id"])
    assert batch.state == "rejected"
    by_line = {error["line"]: " ".join(error["errors"]) for error in batch.errors}
    assert set(by_line) == {3, 4, 5, 6, 7, 8, 9}
    assert "duplicate of line 2" in by_line[6]
    assert "already registered" in by_line[7]
    assert "in the future" in by_line[9]
    assert not Terminal.objects.filter(serial="WST01-00000201").exists()


def test_wrong_header_is_refused_at_upload(world):
    response = upload(world, "serial;model\nWST01-1;WST01\n")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_csv_header"


def test_ten_thousand_rows_import_with_progress(world):
    rows = "".join(f"WST01-{n:08d},WST01,C,2026-09-30\n" for n in range(30_000_000, 30_010_000))
    response = upload(world, HEADER + rows)
    batch = batch_import(batch_id=response.json()["id"])
    assert batch.state == "imported", batch.errors[:3]
    assert batch.total_rows == batch.processed_rows == 10_000
    assert Terminal.objects.filter(batch=batch).count() == 10_000


def test_a_batch_is_imported_once(world):
    response = upload(world, HEADER + "WST01-00000301,WST01,B,2026-10-01\n")
    batch_import(batch_id=response.json()["id"])
    again = batch_import(batch_id=response.json()["id"])
    assert again.state == RegistrationBatch.State.IMPORTED
    assert Terminal.objects.filter(serial="WST01-00000301").count() == 1
