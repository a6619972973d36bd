"""Settings for the test suite (pyproject's ``[tool.pytest.ini_options]``): production's, with
a fast password hasher. Argon2 is slow on purpose and nearly every test makes users; that
production and development hash with Argon2 is checked by
``tests/config/test_platform.py::test_passwords_are_hashed_with_argon2``."""

from .settings import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
