"""Run logging: one logger writing to the console and the run's log.txt."""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOGGER_NAME = "ssmad"
_console = {"level": logging.INFO}  # the console handler's level (``console_level``)


def setup_logger(run_dir: Path | None = None) -> logging.Logger:
    """The ``ssmad`` logger, to stderr and (when given) ``run_dir/log.txt``."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    console.setLevel(_console["level"])
    logger.addHandler(console)
    if run_dir is not None:
        file_handler = logging.FileHandler(run_dir / "log.txt")
        file_handler.setFormatter(fmt)
        logger.addHandler(file_handler)
    return logger


def get_logger() -> logging.Logger:
    """The shared ``ssmad`` logger."""
    return logging.getLogger(LOGGER_NAME)


@contextmanager
def console_level(level: int) -> Iterator[None]:
    """Meanwhile, only lines at ``level`` or above reach the console (log.txt still gets every line)."""
    previous = _console["level"]
    _set_console_level(level)
    try:
        yield
    finally:
        _set_console_level(previous)


def _set_console_level(level: int) -> None:
    _console["level"] = level
    for handler in get_logger().handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(level)
