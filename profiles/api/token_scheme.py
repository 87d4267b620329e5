"""How the OpenAPI schema names the API's personal tokens (`membership.api_auth.TokenAuthentication`):
an HTTP bearer scheme, so a client generated from `/api/schema/` sends `Authorization: Bearer <token>`.

drf-spectacular finds an authentication class's scheme through an extension registered by importing
it; `urls` imports this module, so it is registered before any schema is generated.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "membership.api_auth.TokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        scheme = build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")  # noqa: S106
        scheme["description"] = ("A personal API token (btw_<prefix>_<secret>), made on your account page: it reads "
                                 "at your membership's tier.")
        return scheme
