"""schemathesis against the API's own OpenAPI document: every operation, with a real token,
answers no 5xx, nothing outside its schema and no status the document does not list."""

import io

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config._checks import (
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
    PositiveDataAcceptanceConfig,
)

from .api_helpers import WORKBOOK, make_token
from .sheets.books import write_xlsx


@pytest.fixture
def api_schema(app, client, user, tmp_path):
    token = make_token(app)
    headers = {"Authorization": f"Bearer {token}"}
    workbook = write_xlsx(tmp_path / "book.xlsx", WORKBOOK).read_bytes()
    # A real conversion, so that paths with an id reach more than the 404.
    response = client.post(
        "/api/v1/conversions?format=csv",
        data={"file": (io.BytesIO(workbook), "book.xlsx")},
        content_type="multipart/form-data",
        headers=headers,
    )
    real_id = response.json["id"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.headers = headers  # every generated request carries the token
    # Schema-valid requests may still be refused for what only the content shows: a file
    # that is not a spreadsheet (415), a sheet name the workbook lacks (422), a NUL in a
    # string (400: refused at the edge, app/security.py).
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=[*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, 400, 415, 422]
    )

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters or "public_id" not in path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**path_parameters, "public_id": real_id}])

    @schema.hook
    def flatmap_body(context, body):
        # Half the uploads are a real workbook, so the paths past the upload run too.
        if isinstance(body, dict) and "file" in body:
            return st.sampled_from([body, {**body, "file": workbook}])
        return st.just(body)

    return schema


# schemathesis' own pytest loader (from_fixture) reads a node attribute pytest 9 removed,
# so the test walks the operations itself; the checks are schemathesis' all the same.
SETTINGS = hypothesis.settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
    database=None,
)


# schemathesis' WSGI transport reads a streamed file but does not close it.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_every_operation_keeps_to_its_document(api_schema):
    tested, failures = [], []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @SETTINGS
        @hypothesis.given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate()

        try:
            check()
        except Exception as error:  # report every operation's failure, not just the first
            failures.append(f"{operation.label}: {error}")
        tested.append(operation.label)
    assert len(tested) == 18, tested
    assert not failures, "\n\n".join(failures)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_stateful_phase_follows_the_documents_links(api_schema):
    """Issue 27, 3: schemathesis' stateful phase, from one operation's answer to the next
    (upload, then read, convert, cancel, preview, download, delete it; a batch, then read
    and convert it), with the same checks."""
    machine = api_schema.as_state_machine()
    assert len(machine._transitions.operations) >= 8  # the links it follows
    machine.run(
        settings=hypothesis.settings(
            max_examples=40,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            derandomize=True,
            database=None,
        )
    )
