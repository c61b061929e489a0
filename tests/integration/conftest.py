import pytest

from harness import System


@pytest.fixture
def system(tmp_path):
    s = System(tmp_path)
    yield s
    s.stop_all()
    s.cleanup()
