"""Log lines are JSON, say where an error happened, and never carry its message."""

from __future__ import annotations

import json
import logging
import random

from app.logs import JsonFormatter
from app.tokens import generate_nrn


def test_error_lines_have_type_and_place_but_not_the_message() -> None:
    nrn = generate_nrn(random.Random(3))
    logger = logging.getLogger("statuspass.test")
    try:
        raise ValueError(f"bad number {nrn}")
    except ValueError:
        record = logger.makeRecord(
            "statuspass.test",
            logging.ERROR,
            __file__,
            1,
            "could not handle a request",
            (),
            exc_info=None,
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    out = json.loads(line)
    assert out["error"] == "ValueError" and out["level"] == "error"
    assert out["where"][0].startswith("unit/test_logs.py:")
    assert nrn not in line and "bad number" not in line
