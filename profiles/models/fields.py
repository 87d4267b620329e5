"""Field and constraint helpers shared by the profile models, so a rule written once (an http(s)
web address, a tier that gates a row, how to write Markdown) reads the same on every model."""

from django.db import models
from django.db.models import Q

from membership.models import Tier

from ..validators import validate_http_url, validate_url_syntax

MARKDOWN_HELP = "Markdown: **bold**, _italic_, [links](https://…), lists with '- '."


def http_url_constraint(field_name: str, *, name: str, optional: bool = False) -> models.CheckConstraint:
    condition = Q(**{f"{field_name}__startswith": "http://"}) | Q(**{f"{field_name}__startswith": "https://"})
    if optional:
        condition |= Q(**{field_name: ""})
    return models.CheckConstraint(condition=condition, name=name)


def http_url_field(**kwargs) -> models.URLField:
    return models.URLField(max_length=1000, validators=[validate_http_url, validate_url_syntax], **kwargs)


def required_tier_field(help_text: str, **kwargs) -> models.ForeignKey:
    return models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+", help_text=help_text, **kwargs)
