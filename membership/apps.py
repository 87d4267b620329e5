from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "membership"
    verbose_name = "Membership"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Tier levels are cached per process (`Tier.objects.level_of`); a saved tier clears them."""
        from django.db.models.signals import post_delete, post_save

        from .models import Tier, forget_tier_levels

        post_save.connect(forget_tier_levels, sender=Tier, dispatch_uid="membership.forget_tier_levels.save")
        post_delete.connect(forget_tier_levels, sender=Tier, dispatch_uid="membership.forget_tier_levels.delete")
