"""The session's user is read by one precompiled statement (accounts/backends.py): the same
user the ORM would load, read fresh on every request, and refused as Django refuses it."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.backends import BACKEND, UserBackend
from accounts.models import User
from tests.factories import CAInstitutionFactory, UserFactory
from yueqiqian.db import instance_by_pk

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in User._meta.concrete_fields]


def test_the_user_is_the_one_the_orm_loads_field_for_field():
    staff = UserFactory(is_staff=True, ca_institution=CAInstitutionFactory(), name="李四")
    staff.set_password("a long pass phrase")
    staff.save()
    loaded, expected = instance_by_pk(User, staff.pk), User.objects.get(pk=staff.pk)
    assert [getattr(loaded, f) for f in FIELDS] == [getattr(expected, f) for f in FIELDS]
    assert loaded.get_deferred_fields() == set()
    assert loaded._state.adding is False
    assert loaded._state.db == "default"
    assert loaded.date_joined.tzinfo is not None  # converted as the ORM does (SQLite: text)
    assert loaded.get_session_auth_hash() == expected.get_session_auth_hash()


@pytest.mark.parametrize("pk", ["not a number", "", None, "1; DROP TABLE accounts_user", 10**12])
def test_an_unknown_or_malformed_id_is_no_user(pk):
    UserFactory()
    assert UserBackend().get_user(pk) is None


def test_the_backend_refuses_whom_modelbackend_refuses():
    user = UserFactory()
    assert UserBackend().get_user(str(user.pk)) == user
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert UserBackend().get_user(str(user.pk)) is None
    assert ModelBackend().get_user(str(user.pk)) is None


def test_each_request_reads_the_user_afresh(client):
    user = UserFactory()
    client.force_login(user)
    assert client.session["_auth_user_backend"] == BACKEND
    me = reverse("me")
    assert client.get(me).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(me)
    assert sum('FROM "accounts_user"' in q["sql"] for q in queries) == 1
    # Deactivated by staff: the next request is anonymous (no cached user).
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = client.get(me)
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_a_password_change_ends_other_sessions(client):
    staff = UserFactory(is_staff=True)
    staff.set_password("first pass phrase 1")
    staff.save()
    client.force_login(staff)
    assert client.get(reverse("me")).status_code == 200
    staff.set_password("second pass phrase 2")
    staff.save()
    assert client.get(reverse("me")).status_code == 302


def test_staff_still_log_in_to_the_admin_with_a_password(client):
    staff = UserFactory(is_staff=True, is_superuser=True, phone="13900000001")
    staff.set_password("a long pass phrase")
    staff.save()
    response = client.post(
        reverse("admin:login"), {"username": "13900000001", "password": "a long pass phrase"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == BACKEND
    assert client.get(reverse("admin:index")).status_code == 200
