"""Fixtures shared by several test files."""
import logging

import pytest
import torch

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


@pytest.fixture
def seeded_one_thread():
    """Seeded; one thread, as the first multi-threaded call stalls for seconds on a busy 2-core machine."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
