from django.views.generic import TemplateView


class TiersView(TemplateView):
    template_name = "membership/tiers.html"


class ApplyView(TemplateView):
    template_name = "membership/apply.html"
