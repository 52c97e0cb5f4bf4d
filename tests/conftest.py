import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from tests.helpers import make_image, make_model  # noqa: E402


@pytest.fixture(scope="session")
def demo_model():
    return make_model()


@pytest.fixture
def rgb_image():
    return make_image()
