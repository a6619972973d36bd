"""The API's authentication: simplejwt's JWT, with the caller's own patient profile id read in
the same query as the user (``own_patient_pk``; None for staff). Most API calls come from
patients' phones, and a patient's scope is their own profile (``accounts.selectors.own_patient_id``):
with its id on the user, a patient's reads need no query to find it and filter on a plain id.
simplejwt's own checks (active user, token revoked by a password change) run unchanged: only
the query it looks the user up with differs. That query is compiled by the ORM once per process
(``UserLookup``), not on every request: building it was a third of the CPU time of an
incremental sync pull, the request a phone makes most (docs/benchmarks.md, "Sync").
"""

import time
from functools import cached_property
from typing import Protocol

from django.db import DatabaseError, connection
from django.db.models import F
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication

from .models import User


class UserLookup:
    """What simplejwt's ``get_user`` calls as ``user_model.objects.get(id=...)``: the user by
    primary key with ``own_patient_pk``, the query ``User.objects.annotate(own_patient_pk=
    F("patient_profile__pk")).get(id=...)`` sends, compiled once; the row becomes a ``User``
    through ``Model.from_db`` as the ORM's own rows do."""

    DoesNotExist = User.DoesNotExist

    @property
    def objects(self):
        return self

    @cached_property
    def _compiled(self) -> tuple[str, list[str]]:
        query = User.objects.annotate(own_patient_pk=F("patient_profile__pk")).filter(pk=0)
        connection.ensure_connection()  # compiling reads the server's version and features
        sql, params = query.query.sql_with_params()
        if params != (0,):
            raise RuntimeError(f"unexpected user query parameters {params!r}")
        return sql, [f.attname for f in User._meta.concrete_fields]

    def get(self, **lookup) -> User:
        return self.get_with(None, **lookup)

    def get_with(self, batch: "Batch | None", **lookup) -> User:
        """``get``; with a ``batch``, its statements go in the same round trip, after the
        user's query (their results are read by ``batch.read(cursor)`` whether or not the user
        is found; what the caller makes of them is up to its checks of the user)."""
        ((field, value),) = lookup.items()
        if field not in ("id", "pk"):
            raise TypeError(f"only a primary-key lookup is compiled, not {field!r}")
        sql, names = self._compiled
        params = [User._meta.pk.get_prep_value(value)]
        with connection.cursor() as cursor:
            if batch is not None:  # its text may depend on the connection open now
                sql, params = f"{sql};\n{batch.sql}", [*params, *batch.params]
            try:
                cursor.execute(sql, params)
            except DatabaseError:
                if batch is None or connection.in_atomic_block:
                    raise
                # The batch failed, not necessarily the lookup: the batch forgets what it
                # sent (``failed``), the user is looked up alone, and the view, finding no
                # results, runs its statements itself.
                batch.failed()
                return self.get_with(None, **lookup)
            row = cursor.fetchone()
            if batch is not None:
                cursor.nextset()
                batch.read(cursor)
        if row is None:
            raise User.DoesNotExist
        user = User.from_db(connection.alias, names, row[: len(names)])
        user.own_patient_pk = row[len(names)]
        return user


class Batch(Protocol):
    """Statements a view sends with the user's lookup (``JWTAuthentication``)."""

    sql: str
    params: list

    def read(self, cursor) -> None: ...

    def failed(self) -> None: ...


_USERS = UserLookup()

# Access tokens that passed validation in this process, by their exact bytes: (token, the time
# it expires, leeway included). Bounded: emptied when full (a phone's next request validates
# its token again).
_VALIDATED: dict[bytes, tuple] = {}
VALIDATED_MAX = 2048


class JWTAuthentication(SimpleJWTAuthentication):
    """simplejwt's JWT authentication with the compiled user lookup (``UserLookup``).

    A view that knows, from the request alone, the statements it will send once the caller is
    known may have them sent in the user lookup's round trip: its ``batch_for_user(request,
    user_id)`` returns them (a ``Batch``, or None), ``UserLookup.get_with`` sends them after the
    user's query, and the view finds them, read, as ``request.successful_authenticator.batch``
    (the sync pull, docs/sync.md "How the incremental pull stays cheap"). The token is validated
    before anything is sent, and simplejwt's checks of the user (found, active, token not
    revoked by a password change) run unchanged on the user that came back: when one fails, the
    request is refused as without a batch and its results are never used. A batch therefore
    changes nothing and names the caller by the token's user id."""

    DoesNotExist = User.DoesNotExist

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user_model = self  # simplejwt calls user_model.objects.get(id=...): self.get
        self.batch = None
        self._request = None

    @property
    def objects(self):
        return self

    def authenticate(self, request):
        self._request, self.batch = request, None
        return super().authenticate(request)

    def get_validated_token(self, raw_token: bytes):
        """simplejwt's validation (signature, claims, token type), done once per token and
        process: a phone sends the same access token with every request for its lifetime
        (``ACCESS_TOKEN_LIFETIME``), and decoding it was a tenth of an incremental pull's CPU.
        A token found in ``_VALIDATED`` passed that validation with exactly these bytes; only
        its expiry is checked again, as simplejwt checks it (``exp`` plus the leeway). Access
        tokens are not blacklisted (only refresh tokens are), and a password change revokes
        them in ``get_user``, which runs on every request as before."""
        known = _VALIDATED.get(raw_token)
        if known is not None and time.time() < known[1]:
            return known[0]
        token = super().get_validated_token(raw_token)
        expires = token.payload.get("exp")
        if isinstance(expires, int | float):
            if len(_VALIDATED) >= VALIDATED_MAX:
                _VALIDATED.clear()
            leeway = token.get_token_backend().get_leeway().total_seconds()
            _VALIDATED[raw_token] = (token, expires + leeway)
        return token

    def get(self, **lookup) -> User:
        ((_, value),) = lookup.items()
        context = getattr(self._request, "parser_context", None) or {}
        batch_for = getattr(context.get("view"), "batch_for_user", None)
        if batch_for is not None:
            self.batch = batch_for(self._request, User._meta.pk.get_prep_value(value))
        return _USERS.get_with(self.batch, **lookup)


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of simplejwt's class (``jwtAuth``), for this one."""

    target_class = JWTAuthentication
