"""Submit a page's own form as a browser does: the fields it renders with their defaults
(ticked boxes, selected options, hidden inputs, the CSRF token), what the test fills in, and
the button pressed. A field the test fills that the form does not render, a missing token
or a missing button fails the test, as it would fail a person."""

import io
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit


class Form:
    def __init__(self, attrs):
        self.action = attrs.get("action") or ""
        self.method = (attrs.get("method") or "get").lower()
        self.enctype = attrs.get("enctype") or "application/x-www-form-urlencoded"
        self.id = attrs.get("id")
        self.fields = []  # (name, value, kind): in page order, repeated names kept
        self.names = set()  # every control's name, sent or not (an unticked box)
        self.buttons = []  # (name, value, text)

    def add(self, name, value, kind="text"):
        self.fields.append((name, value, kind))


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self.form = [], None
        self.select = self.option = self.textarea = self.button = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.form = Form(attrs)
            self.forms.append(self.form)
        elif self.form is None:
            return
        elif tag == "input":
            self.input(attrs)
        elif tag == "select":
            self.select = {
                "name": attrs.get("name"),
                "options": [],
                "multiple": "multiple" in attrs,
            }
        elif tag == "option" and self.select is not None:
            self.option = {"value": attrs.get("value"), "selected": "selected" in attrs, "text": ""}
            self.select["options"].append(self.option)
        elif tag == "textarea":
            self.textarea = {"name": attrs.get("name"), "text": ""}
        elif tag == "button":
            self.button = {"name": attrs.get("name"), "value": attrs.get("value", ""), "text": ""}

    def input(self, attrs):
        name, kind = attrs.get("name"), (attrs.get("type") or "text").lower()
        if kind in ("submit", "image"):
            self.form.buttons.append((name, attrs.get("value", ""), attrs.get("value", "")))
            return
        if not name or "disabled" in attrs:
            return
        self.form.names.add(name)
        if kind in ("checkbox", "radio"):
            if "checked" in attrs:
                self.form.add(name, attrs.get("value", "on"), kind)
        elif kind == "file":
            self.form.add(name, None, "file")
        else:
            self.form.add(name, attrs.get("value", ""), kind)

    def handle_data(self, data):
        if self.option is not None:
            self.option["text"] += data
        if self.textarea is not None:
            self.textarea["text"] += data
        if self.button is not None:
            self.button["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "option":
            self.option = None
        elif tag == "select" and self.select is not None:
            self.end_select()
        elif tag == "textarea" and self.textarea is not None:
            self.form.names.add(self.textarea["name"])
            self.form.add(self.textarea["name"], self.textarea["text"].lstrip("\n"), "textarea")
            self.textarea = None
        elif tag == "button" and self.button is not None:
            button = self.button
            self.form.buttons.append((button["name"], button["value"], button["text"].strip()))
            self.button = None

    def end_select(self):
        select, options = self.select, self.select["options"]
        self.select = None
        if not select["name"]:
            return
        self.form.names.add(select["name"])
        chosen = [o for o in options if o["selected"]]
        if not chosen and options and not select["multiple"]:
            chosen = options[:1]
        for option in chosen:
            value = option["value"] if option["value"] is not None else option["text"]
            self.form.add(select["name"], value, "select")


def forms_on(html):
    parser = FormParser()
    parser.feed(html)
    return parser.forms


def choose(forms, action=None, form_id=None, names=(), page=""):
    """The page's POST form with this action or id; else the first that has every field
    named (the page's other forms, such as the theme switcher's, do not)."""
    found = [
        form
        for form in forms
        if (form_id is None or form.id == form_id)
        and (action is None or urlsplit(form.action or page).path == action)
        and form.method == "post"
    ]
    if action is None and form_id is None:
        found = [form for form in found if set(names) <= form.names] or found
    assert found, f"no such form on the page (action={action!r}, id={form_id!r})"
    return found[0]


def submit(client, page, fill=None, button=None, files=None, action=None, form_id=None, **kw):
    """GET `page`, fill its POST form (the first, or the one with `action`/`form_id`) and
    press `button` (its text; default: the form's first). Returns the response."""
    shown = client.get(page)
    assert shown.status_code == 200, (page, shown.status_code)
    fill, files = dict(fill or {}), dict(files or {})
    forms = forms_on(shown.get_data(as_text=True))
    form = choose(forms, action, form_id, [*fill, *files], page)
    assert "csrf_token" in form.names, f"the form on {page} carries no CSRF token"
    unknown = (set(fill) | set(files)) - form.names
    assert not unknown, f"the form on {page} has no field {sorted(unknown)}"
    data = {}
    for name, value, kind in form.fields:
        if name in fill or name in files or kind == "file":
            continue
        data.setdefault(name, []).append(value)
    for name, value in fill.items():
        if value is None or value is False:
            continue  # an unticked box, an emptied multiple select: not sent
        data[name] = list(value) if isinstance(value, list | tuple) else [value]
    pressed = [b for b in form.buttons if button is None or b[2] == button or b[1] == button]
    assert pressed, f"no button {button!r} on the form on {page}"
    if pressed[0][0]:
        data[pressed[0][0]] = [pressed[0][1]]
    for name, (content, filename) in files.items():
        data[name] = [(io.BytesIO(content), filename)]
    flat = {name: values if len(values) > 1 else values[0] for name, values in data.items()}
    target = urljoin(f"http://localhost{page}", form.action or page)
    path = urlsplit(target).path + (f"?{urlsplit(target).query}" if urlsplit(target).query else "")
    content_type = "multipart/form-data" if files or "multipart" in form.enctype else None
    # Only the token the page rendered, none from the test client (tests/client.py).
    return client.post(path, data=flat, content_type=content_type, csrf=False, **kw)
