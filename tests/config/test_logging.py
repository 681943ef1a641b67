import json
import logging

from pythonjsonlogger.json import JsonFormatter

from config.request_id import RequestIdLogFilter, set_request_id


def test_json_log_lines_carry_the_request_id():
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level", "name": "logger"},
    )
    record = logging.LogRecord("payments", logging.INFO, __file__, 1, "payment %s", ("p-1",), None)
    set_request_id("req-logging-0001")
    RequestIdLogFilter().filter(record)

    line = json.loads(formatter.format(record))

    assert line["message"] == "payment p-1"
    assert line["request_id"] == "req-logging-0001"
    assert line["level"] == "INFO"
