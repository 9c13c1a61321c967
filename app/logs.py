"""JSON logs, one object per line, without personal data.

Nothing in Statuspass logs an NRN, a token, a code or a name; the formatter additionally
drops request bodies and never renders exception *values* of third-party errors beyond
their type and message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import PurePath

__all__ = ["JsonFormatter", "setup_logging"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            # where it was raised (file and line, innermost frame first and ours first),
            # but never the exception's message or locals: they may hold personal data
            tb = record.exc_info[2]
            frames = traceback.extract_tb(tb) if tb is not None else []
            ours = [f for f in frames if "/app/" in f.filename] or frames
            if ours:
                out["where"] = [
                    f"{'/'.join(PurePath(f.filename).parts[-2:])}:{f.lineno}"
                    for f in reversed(ours[-4:])
                ]
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # access logs would carry URLs and client addresses: keep them out by default
    for noisy in ("uvicorn.access", "granian.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
