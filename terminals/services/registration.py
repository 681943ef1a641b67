"""Register production batches from CSV: validated row by row, imported all or nothing.

    serial,model,hardware_revision,manufacture_date
    WST01-00012345,WST01,B,2026-10-02

Every bad row is reported with its line number and reasons; duplicates inside the file and
serials already registered are errors. Progress (`processed_rows` of `total_rows`) is written
outside the import transaction so a client polling the batch sees it move.
"""

import csv
import io
import re
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.api_errors import ApiError
from terminals.models import SERIAL_PATTERN, HardwareModel, RegistrationBatch, Terminal

COLUMNS = ("serial", "model", "hardware_revision", "manufacture_date")
MAX_ROWS = 50_000
_PROGRESS_EVERY = 1000
_SERIAL = re.compile(SERIAL_PATTERN)


@transaction.atomic
def batch_create(*, actor, filename: str, content: str) -> RegistrationBatch:
    """Store an uploaded CSV and enqueue its import after commit. Ops admins only."""
    from terminals.tasks import import_batch_task

    if not actor.is_ops_admin:
        raise PermissionDenied("Only ops admins register production batches.")
    header = next(csv.reader(io.StringIO(content)), None)
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        raise ApiError(
            f"The first line must be the header: {','.join(COLUMNS)}.", code="bad_csv_header"
        )
    rows = content.count("\n")
    if rows > MAX_ROWS + 1:
        raise ApiError(f"A batch holds at most {MAX_ROWS} rows.", code="batch_too_large")
    batch = RegistrationBatch.objects.create(
        filename=filename[:200], content=content, created_by=actor.label[:200]
    )
    import_batch_task.delay_on_commit(batch.pk)
    return batch


def _check_row(row: dict, models: dict[str, HardwareModel]) -> list[str]:
    errors = []
    serial = (row.get("serial") or "").strip().upper()
    if not _SERIAL.match(serial):
        errors.append("serial must be WST01- followed by 4 to 12 digits or capital letters")
    model = (row.get("model") or "").strip().upper()
    if model not in models:
        errors.append(f"unknown hardware model {model!r}")
    elif not serial.startswith(f"{model}-"):
        errors.append("serial does not match the model")
    revision = (row.get("hardware_revision") or "").strip()
    if not revision or len(revision) > 16:
        errors.append("hardware_revision is required (at most 16 characters)")
    made = (row.get("manufacture_date") or "").strip()
    try:
        if date.fromisoformat(made) > timezone.localdate():
            errors.append("manufacture_date is in the future")
    except ValueError:
        errors.append("manufacture_date must be YYYY-MM-DD")
    if None in row or any(value is None for value in row.values()):
        errors.append("wrong number of columns")
    return errors


def _progress(batch: RegistrationBatch, processed: int) -> None:
    RegistrationBatch.objects.filter(pk=batch.pk).update(processed_rows=processed)


def batch_import(*, batch_id: int) -> RegistrationBatch:
    """Validate every row, then insert all terminals in one transaction, or none."""
    claimed = RegistrationBatch.objects.filter(
        pk=batch_id, state=RegistrationBatch.State.PENDING
    ).update(state=RegistrationBatch.State.RUNNING)
    batch = RegistrationBatch.objects.get(pk=batch_id)
    if not claimed:
        return batch  # another run has it, or it is finished
    models = {m.code: m for m in HardwareModel.objects.all()}
    reader = csv.DictReader(io.StringIO(batch.content), fieldnames=COLUMNS)
    next(reader)  # the header, checked at upload
    rows = list(reader)
    RegistrationBatch.objects.filter(pk=batch.pk).update(total_rows=len(rows))
    errors: dict[int, list[str]] = {}
    first_line: dict[str, int] = {}
    for index, row in enumerate(rows):
        line = index + 2
        problems = _check_row(row, models)
        serial = (row.get("serial") or "").strip().upper()
        if serial in first_line:
            problems.append(f"duplicate of line {first_line[serial]} in this file")
        else:
            first_line[serial] = line
        if problems:
            errors[line] = problems
        if (index + 1) % _PROGRESS_EVERY == 0:
            _progress(batch, index + 1)
    serials = list(first_line)
    for start in range(0, len(serials), 5000):
        for serial in Terminal.objects.filter(serial__in=serials[start : start + 5000]).values_list(
            "serial", flat=True
        ):
            errors.setdefault(first_line[serial], []).append("serial is already registered")
    if not rows:
        errors[1] = ["the file has no rows"]
    if not errors:
        try:
            _insert(batch, rows, models)
        except IntegrityError:
            errors[0] = ["a serial was registered by another upload meanwhile; upload again"]
    report = [
        {
            "line": line,
            "serial": (rows[line - 2].get("serial") or "") if line >= 2 else "",
            "errors": problems,
        }
        for line, problems in sorted(errors.items())
    ]
    RegistrationBatch.objects.filter(pk=batch.pk).update(
        state=RegistrationBatch.State.REJECTED if errors else RegistrationBatch.State.IMPORTED,
        errors=report,
        processed_rows=len(rows),
        finished_at=timezone.now(),
    )
    batch.refresh_from_db()
    return batch


@transaction.atomic
def _insert(batch: RegistrationBatch, rows: list[dict], models: dict) -> None:
    Terminal.objects.bulk_create(
        (
            Terminal(
                serial=(serial := row["serial"].strip().upper()),
                bluetooth_name=Terminal.bluetooth_name_for(serial),
                hardware_model=models[row["model"].strip().upper()],
                hardware_revision=row["hardware_revision"].strip(),
                manufactured_on=date.fromisoformat(row["manufacture_date"].strip()),
                batch=batch,
            )
            for row in rows
        ),
        batch_size=1000,
    )
