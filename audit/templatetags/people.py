"""`{{ user|user_label }}`: a person named as the audit log and review pages name them."""

from django import template

from audit.services import user_label as _user_label

register = template.Library()


@register.filter
def user_label(user) -> str:
    return _user_label(user)
