"""The admin area: one guard for every endpoint, and the dashboard."""

from flask import url_for


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
