"""The API's readable documentation page (`/api/docs/`): the OpenAPI schema (`/api/schema/`) laid
out as HTML on the site's own layout — server-rendered, no script, no third-party assets, so it
keeps the site's Content-Security-Policy and works without JavaScript.

The schema is generated once per process: it describes code, which only a deploy changes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.views.generic import TemplateView
from drf_spectacular.generators import SchemaGenerator

from ..cache import cache_anonymous_page


@functools.cache
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str
    required: bool
    type: str
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Parameter]
    responses: list[tuple[str, str]]

    @property
    def anchor(self) -> str:
        return "op-" + "".join(ch if ch.isalnum() else "-" for ch in f"{self.method}{self.path}").strip("-")


def _type(spec: dict) -> str:
    schema_ = spec.get("schema", {})
    if "enum" in schema_:
        return "one of " + ", ".join(str(v) for v in schema_["enum"])
    if schema_.get("type") == "array":
        return f"list of {schema_.get('items', {}).get('type', 'values')}"
    return schema_.get("format") or schema_.get("type", "string")


def operations() -> list[Operation]:
    out = []
    for path, methods in schema().get("paths", {}).items():
        for method, op in methods.items():
            parameters = [
                Parameter(p["name"], p["in"], bool(p.get("required")), _type(p), p.get("description", ""))
                for p in op.get("parameters", [])
            ]
            responses = [(code, r.get("description", "")) for code, r in op.get("responses", {}).items()]
            out.append(Operation(method.upper(), path, op.get("summary", ""), op.get("description", ""),
                                 parameters, responses))
    return out


class ApiDocsView(TemplateView):
    template_name = "api/docs.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        info = schema().get("info", {})
        context.update(title=info.get("title", "API"), description=info.get("description", ""),
                       operations=operations())
        return context


api_docs = cache_anonymous_page(ApiDocsView.as_view())
