"""The API docs: a UI that works without internet, and an OpenAPI document that is valid
and says who may call what, what each error looks like and when it happens."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from openapi_spec_validator import validate

from app.api.edge.hygiene import CONTENT_SECURITY_POLICY
from tests.integration.api.conftest import Api, auth

BASE = "http://testserver.local"  # the test client's origin


class _Page(HTMLParser):
    """Every URL a page loads, and whatever would need an inline-script or -style CSP."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"{tag} {name}")
            if value and value.strip().lower().startswith("javascript:"):
                self.inline.append(f"{tag} {name}=javascript:")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = "src" not in a
            if a.get("src"):
                self.loads.append(str(a["src"]))
        elif tag == "link" and a.get("href"):
            self.loads.append(str(a["href"]))
        elif tag in ("img", "iframe", "embed", "source") and a.get("src"):
            self.loads.append(str(a["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("<script> with inline code")


async def test_schema_ui_loads_only_from_the_service_itself(api: Api) -> None:
    for page in ("/schema", "/schema/swagger"):
        r = await api.http.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        parsed = _Page()
        parsed.feed(r.text)
        assert parsed.inline == [], parsed.inline  # the CSP would block them
        assert len(parsed.loads) >= 3  # the bundle, our start script, the stylesheet
        for url in parsed.loads:
            absolute = urljoin(f"{BASE}{page}", url)
            assert urlsplit(absolute).netloc == urlsplit(BASE).netloc, url
            asset = await api.http.get(urlsplit(absolute).path)
            assert asset.status_code == 200, url
            assert asset.headers["x-content-type-options"] == "nosniff"
            expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
            assert asset.headers["content-type"].startswith(expected[url.rsplit(".", 1)[1]])
            again = await api.http.get(
                urlsplit(absolute).path, headers={"If-None-Match": asset.headers["etag"]}
            )
            assert again.status_code == 304
    bundle = (await api.http.get("/schema/ui/swagger-ui-bundle.js")).content
    assert len(bundle) > 500_000 and b"SwaggerUIBundle" in bundle
    start = (await api.http.get("/schema/ui/apidocs.js")).text
    assert "validatorUrl: null" in start  # never sends the document to swagger.io
    # only the files the page needs, nothing else of the package's folder
    for other in ("index.html", "swagger-initializer.js", "..%2F__init__.py", "LICENSE"):
        assert (await api.http.get(f"/schema/ui/{other}")).status_code == 404


async def _document(api: Api) -> dict[str, Any]:
    r = await api.http.get("/schema/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


async def test_openapi_document_is_valid(api: Api) -> None:
    validate(await _document(api))  # raises on any violation of OpenAPI 3.1


async def test_every_protected_operation_names_its_credentials(api: Api) -> None:
    doc = await _document(api)
    schemes = doc["components"]["securitySchemes"]
    assert set(schemes) == {"sourceKey", "verifierKey", "citizenIdToken"}
    for scheme in schemes.values():
        assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert schemes["citizenIdToken"]["bearerFormat"] == "JWT"
    expected = {
        ("put", "/v1/entitlements/{type_id}"): "sourceKey",
        ("post", "/v1/entitlements/{type_id}/revoke"): "sourceKey",
        ("post", "/v1/entitlements/{type_id}/suspend"): "sourceKey",
        ("post", "/v1/entitlements/{type_id}/reinstate"): "sourceKey",
        ("post", "/v1/entitlements:batch"): "sourceKey",
        ("get", "/v1/me/entitlements"): "citizenIdToken",
        ("post", "/v1/me/proofs"): "citizenIdToken",
        ("get", "/v1/me/verifications"): "citizenIdToken",
        ("post", "/v1/verify"): "verifierKey",
        ("post", "/v1/parking-cards/check"): "verifierKey",
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            want = expected.get((method, path))
            if want is None:  # public: no credentials
                assert not op.get("security"), (method, path)
            else:
                assert op["security"] == [{want: []}], (method, path)
                assert "401" in op["responses"], (method, path)
    assert {(m, p) for p, item in doc["paths"].items() for m in item} >= set(expected)


async def test_errors_are_documented_as_problem_details_where_they_happen(api: Api) -> None:
    doc = await _document(api)
    problem = doc["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status"}
    documented: set[str] = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) < 400:
                    continue
                documented.add(status)
                content = response["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ProblemDetails"}
                if status in ("429", "503"):
                    assert "Retry-After" in response["headers"], (method, path, status)
    assert documented >= {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"}

    def statuses(method: str, path: str) -> set[str]:
        return set(doc["paths"][path][method]["responses"])

    assert statuses("post", "/v1/verify") >= {"401", "403", "413", "415", "422", "429", "503"}
    assert statuses("put", "/v1/entitlements/{type_id}") >= {
        "401", "403", "404", "409", "413", "415", "422", "429", "503",
    }  # fmt: skip
    assert statuses("post", "/v1/me/proofs") >= {"401", "404", "409", "422", "429", "503"}
    assert statuses("get", "/v1/status-lists/{list_id}") >= {"304", "404", "429", "503"}
    assert statuses("get", "/ready") >= {"503"}


async def test_documented_errors_match_the_answers(api: Api, source: str, museum: str) -> None:
    """A sample of real error answers: each one's status is documented for its operation."""
    doc = await _document(api)
    nrn = api.nrn()
    cases = [
        ("post", "/v1/verify", {}, {"code": "1"}, None),  # 401
        ("post", "/v1/verify", auth(source), {"code": "1"}, None),  # 403
        ("post", "/v1/verify", auth(museum), {}, None),  # 422
        ("post", "/v1/verify", auth(museum), None, b"x"),  # 415
        ("put", "/v1/entitlements/nothing", auth(source), {}, None),  # 400
        ("post", "/v1/me/proofs", api.citizen(nrn), {"type": "social_tariff"}, None),  # 404
        ("get", "/v1/status-lists/77", {}, None, None),  # 404
    ]
    seen = set()
    for method, path, headers, body, raw in cases:
        r = await api.http.request(method.upper(), path, headers=headers, json=body, content=raw)
        assert r.status_code >= 400 and r.headers["content-type"] == "application/problem+json"
        template = path.replace("/nothing", "/{type_id}").replace("/77", "/{list_id}")
        assert str(r.status_code) in doc["paths"][template][method]["responses"], (path, r.text)
        seen.add(r.status_code)
    assert seen == {400, 401, 403, 404, 415, 422}


async def test_status_list_and_public_documents_have_their_media_types(api: Api) -> None:
    doc = await _document(api)
    ok = doc["paths"]["/v1/status-lists/{list_id}"]["get"]["responses"]["200"]["content"]
    assert ok == {"application/statuslist+jwt": {"schema": {"type": "string"}}}
    jwks = doc["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]
    assert jwks["application/jwk-set+json"]["schema"] == {"$ref": "#/components/schemas/JwkSet"}
    meta = doc["paths"]["/.well-known/statuspass"]["get"]["responses"]["200"]["content"]
    assert meta["application/json"]["schema"] == {"$ref": "#/components/schemas/IssuerMetadata"}
    # the document describes what is really sent
    issuer = (await api.http.get("/.well-known/statuspass")).json()
    assert set(issuer) == set(doc["components"]["schemas"]["IssuerMetadata"]["properties"])


async def test_batch_endpoint_and_its_ndjson_lines_are_documented(api: Api) -> None:
    doc = await _document(api)
    op = doc["paths"]["/v1/entitlements:batch"]["post"]
    body = op["requestBody"]["content"]
    assert body["application/x-ndjson"]["schema"] == {"$ref": "#/components/schemas/BatchLine"}
    schemas = doc["components"]["schemas"]
    line = schemas["BatchLine"]
    assert set(line["properties"]["op"]["enum"]) == {"upsert", "revoke", "suspend", "reinstate"}
    assert {"op", "type", "nrn"} <= set(line["required"])
    answers = op["responses"]["200"]["content"]["application/x-ndjson"]["schema"]["oneOf"]
    refs = {a["$ref"].rsplit("/", 1)[1] for a in answers}
    assert refs == {"BatchResult", "BatchTruncated", "BatchSummaryLine"}
    for name in refs | {"HolderIn", "BatchSummary"}:
        assert name in schemas, name
    assert set(op["responses"]) >= {"200", "401", "413", "415", "429", "503"}
