"""Post/Redirect/Get: a POST that does something answers with a redirect, so that reloading
the page it leads to sends nothing again. Walked over every route that takes only POST (a
button or a small form): whatever is sent, none answers with a page of its own."""

from flask import url_for

from .conftest import AuthActions


def post_only_urls(app, **args):
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            methods = rule.methods - {"HEAD", "OPTIONS"}
            if methods == {"POST"} and not rule.rule.startswith("/api/"):
                values = {name: args.get(name, 1) for name in rule.arguments}
                urls.append((rule.endpoint, url_for(rule.endpoint, **values)))
    assert len(urls) >= 10, urls
    return urls


def test_post_only_routes_answer_with_a_redirect_or_an_error(app, client, admin, user):
    signed_in = AuthActions(client)
    for endpoint, url in post_only_urls(app, public_id="nope"):
        if endpoint.startswith("auth.logout"):
            continue  # below: they end the sign-in the others need
        signed_in.login(email="root@example.com")
        for data in ({}, {"name": "nightly", "expires_in_days": "0", "theme": "dark"}):
            response = client.post(url, data=data)
            assert response.status_code in (302, 303) or 400 <= response.status_code < 500, (
                endpoint,
                response.status_code,
            )
    for url in ("/auth/logout-everywhere", "/auth/logout"):
        signed_in.login(email="root@example.com")
        assert client.post(url).status_code in (302, 303)
