"""Fixtures shared by several test files."""
import logging

import pytest

from util.logging import LOGGER_NAME


@pytest.fixture
def ssmad_log(caplog):
    """``caplog`` wired to the ``ssmad`` logger, which stops propagating once a run has set it up."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.INFO)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
