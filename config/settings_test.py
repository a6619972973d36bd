"""Settings for the test suite (pyproject's ``[tool.pytest.ini_options]``): production's, with
a fast password hasher and WhiteNoise's per-request file lookup (below). Argon2 is slow on
purpose and nearly every test makes users; that production and development hash with Argon2 is
checked by ``tests/config/test_platform.py::test_passwords_are_hashed_with_argon2``."""

from .settings import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# WhiteNoise looks static files up when they are asked for instead of reading every file's
# headers when its middleware is built: Django's test client builds the middleware again for
# each client, and tests make thousands of clients (26 ms each). Files are served the same way
# (``tests/config/test_platform.py::test_the_app_serves_its_static_files``).
WHITENOISE_AUTOREFRESH = True
