"""The admin area: one guard for every endpoint, and the dashboard."""

import pytest
from flask import url_for
from sqlalchemy import select

from app.extensions import db
from app.models import Role, User

from .conftest import fetch


def admin_urls(app):
    """Every URL of the admin blueprint, with placeholder arguments."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint.startswith("admin."):
                args = {name: 1 for name in rule.arguments}
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    urls.append((method, url_for(rule.endpoint, **args)))
    assert urls, "the admin blueprint has no routes"
    return urls


def test_guard_sends_anonymous_visitors_to_login(app, client):
    for method, url in admin_urls(app):
        response = client.open(url, method=method)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/auth/login?next=/admin"), url


def test_guard_refuses_users_without_admin_permission(app, client, auth, user):
    auth.login()
    for method, url in admin_urls(app):
        assert client.open(url, method=method).status_code == 403, url


def test_dashboard_shows_figures(client, auth, admin, make_user):
    make_user(email="new@example.com", confirmed=False)
    auth.login("root@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Admin dashboard" in page
    assert "new@example.com" in page and "root@example.com" in page


def test_login_then_back_to_admin(client, auth, admin):
    login_url = client.get("/admin/").headers["Location"]
    assert login_url == "/auth/login?next=/admin/"
    response = auth.login("root@example.com", query_string={"next": "/admin/"})
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


# Users


def admin_login(client, auth):
    auth.login("root@example.com")


def test_user_list_search_sort_and_paginate(client, auth, admin, make_user):
    for number in range(30):
        make_user(email=f"user{number:02d}@example.com", name=f"Person {number}")
    admin_login(client, auth)
    page = client.get("/admin/users").get_data(as_text=True)
    assert "Page 1 of 2" in page
    found = client.get("/admin/users?q=PERSON 7").get_data(as_text=True)
    assert "user07@example.com" in found and "user08@example.com" not in found
    by_email = client.get("/admin/users?sort=email").get_data(as_text=True)
    assert by_email.index("root@example.com") < by_email.index("user00@example.com")
    oldest = client.get("/admin/users?sort=oldest").get_data(as_text=True)
    assert oldest.index("root@example.com") < oldest.index("user00@example.com")
    assert "user29@example.com" not in oldest  # on page 2
    assert "No users match." in client.get("/admin/users?q=nobody-like-this").get_data(as_text=True)


def test_edit_user_role_active_confirmed(app, client, auth, admin, user):
    admin_login(client, auth)
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "ada@example.com" in page and "Recent events" in page
    with app.app_context():
        admin_role = db.session.scalar(select(Role).filter_by(name="Administrator"))
    response = client.post(
        f"/admin/users/{user.id}",
        data={"role": admin_role.id, "active": "y"},
        follow_redirects=True,
    )
    assert b"role User -&gt; Administrator" in response.data and b"unconfirmed" in response.data
    edited = fetch(app, User, id=user.id)
    assert edited.role_id == admin_role.id and edited.active and not edited.confirmed
    log = client.get("/admin/audit?action=user_update").get_data(as_text=True)
    assert "ada@example.com: role User -&gt; Administrator" in log and "root@example.com" in log


def test_edit_user_validation(client, auth, admin, user):
    admin_login(client, auth)
    response = client.post(f"/admin/users/{user.id}", data={"role": "999"})
    assert response.status_code == 200 and b"Not a valid choice" in response.data


def test_last_admin_cannot_be_demoted_or_deactivated(app, client, auth, admin, make_user):
    other = make_user(email="second@example.com", admin=True)
    admin_login(client, auth)
    with app.app_context():
        user_role = db.session.scalar(select(Role).filter_by(name="User"))
    # An admin cannot lock themselves out.
    response = client.post(
        f"/admin/users/{admin.id}",
        data={"role": user_role.id, "active": "y", "confirmed": "y"},
        follow_redirects=True,
    )
    assert b"You cannot remove your own admin access" in response.data
    # Another admin can be demoted while one remains...
    client.post(
        f"/admin/users/{other.id}", data={"role": user_role.id, "active": "y", "confirmed": "y"}
    )
    assert fetch(app, User, id=other.id).role_id != admin.role_id
    # ...and the rules hold for deletion too.
    response = client.post(f"/admin/users/{admin.id}/delete", follow_redirects=True)
    assert b"You cannot delete your own account here." in response.data
    assert fetch(app, User, id=admin.id) is not None


def test_last_active_admin_rule_without_self(app, make_user):
    from app.users import AdminRuleError, update_user

    first = make_user(email="a1@example.com", admin=True)
    second = make_user(email="a2@example.com", admin=True)
    with app.test_request_context():
        actor = db.session.get(User, second.id)
        target = db.session.get(User, first.id)
        actor.active = False  # the actor is an inactive admin: the target is the last active one
        db.session.commit()
        user_role = db.session.scalar(select(Role).filter_by(name="User"))
        with pytest.raises(AdminRuleError, match="last active admin"):
            update_user(target, user_role, True, True, actor)


def test_delete_user_with_confirmation(app, client, auth, admin, user):
    admin_login(client, auth)
    confirm = client.get(f"/admin/users/{user.id}/delete")
    assert b"cannot be undone" in confirm.data
    response = client.post(f"/admin/users/{user.id}/delete", follow_redirects=True)
    assert b"Deleted ada@example.com and their files." in response.data
    assert fetch(app, User, id=user.id) is None
    assert client.get(f"/admin/users/{user.id}").status_code == 404
    assert "ada@example.com" in client.get("/admin/audit?action=user_delete").get_data(as_text=True)


# Audit log


def test_sign_ins_are_audited_with_address(app, client, auth, admin, user):
    auth.login(password="wrong")
    auth.login()
    auth.logout()
    admin_login(client, auth)
    log = client.get("/admin/audit").get_data(as_text=True)
    assert "Failed sign-in" in log and "Signed in" in log and "Signed out" in log
    assert "127.0.0.1" in log
    failed = client.get("/admin/audit?action=login_failed").get_data(as_text=True)
    rows = failed[failed.index("<tbody>") :]
    assert "ada@example.com" in rows and "Signed out" not in rows
    assert "No events." in client.get("/admin/audit?q=zzz-nothing").get_data(as_text=True)


def test_password_events_are_audited(app, client, auth, user):
    from app.models import AuditEvent

    auth.login()
    client.post(
        "/auth/change-password",
        data={
            "old_password": "correct horse battery",
            "password": "another pass 1",
            "password2": "another pass 1",
        },
    )
    assert fetch(app, AuditEvent, action="password_change").target == "ada@example.com"


def test_dashboard_counts_conversions_and_storage(app, client, auth, admin):
    admin_login(client, auth)
    page = client.get("/admin/").get_data(as_text=True)
    for label in (
        "Conversions today",
        "Failed",
        "Running",
        "Queued",
        "Storage used",
        "Recent events",
    ):
        assert label in page
