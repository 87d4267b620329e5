from django.apps import AppConfig

#: Models whose rows never appear on public pages, so saving them leaves cached pages alone.
NOT_ON_PUBLIC_PAGES = {
    "follow", "watchsettings", "digestdelivery", "reviewrecord", "sourcecheck", "trackedsource", "sourcehost",
    "change", "listingtally",
}


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Profiles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Side effects of saved rows, registered once: any saved or deleted profile content retires
        the cached renders that show it (profiles.cache, profiles.dependencies), a saved profile is
        re-indexed for search (profiles.search). Models' save() methods derive their own fields only.
        History rows are not receivers' business: the save they record already retired what it shows."""
        from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_migrate, pre_save

        from membership.models import Tier

        from .cache import create_cache_table, retire_dependents, retire_profile_m2m
        from .models import Institution

        pre_migrate.connect(create_cache_table, sender=self, dispatch_uid="btw-cache-table")
        # Each profile's sector ids in its row (profiles.sector_sets), written before the receivers
        # below retire what shows the change: a listing computed after that reads the new lists.
        from django.db.models.signals import pre_delete

        from . import sector_sets
        from .models import Sector

        memberships = Institution.sectors.through
        m2m_changed.connect(sector_sets.sectors_changed, sender=memberships, dispatch_uid="btw-sets-m2m")
        pre_delete.connect(sector_sets.before_sector_delete, sender=Sector, dispatch_uid="btw-sets-sector-pre-delete")
        post_delete.connect(sector_sets.after_sector_delete, sender=Sector, dispatch_uid="btw-sets-sector-delete")
        models = [
            m
            for m in self.get_models()
            if m._meta.model_name not in NOT_ON_PUBLIC_PAGES
            and not m._meta.auto_created
            and not hasattr(m, "instance_type")  # simple-history's Historical… models
        ]
        for model in [*models, Tier]:
            post_save.connect(retire_dependents, sender=model, dispatch_uid=f"btw-cache-save-{model._meta.label}")
            post_delete.connect(retire_dependents, sender=model, dispatch_uid=f"btw-cache-del-{model._meta.label}")
        m2m_changed.connect(retire_profile_m2m, sender=Institution.sectors.through, dispatch_uid="btw-cache-m2m")
        # A member's followed profiles are cached under their own counter (profiles.watch).
        from .models import Follow
        from .watch import follows_changed

        post_save.connect(follows_changed, sender=Follow, dispatch_uid="btw-follows-save")
        post_delete.connect(follows_changed, sender=Follow, dispatch_uid="btw-follows-delete")
        # "Sign in to follow" is completed by the sign-in itself (profiles.watch_views).
        from django.contrib.auth.signals import user_logged_in

        from .watch_views import follow_after_sign_in

        user_logged_in.connect(follow_after_sign_in, dispatch_uid="btw-follow-after-sign-in")
        # A saved profile's text is searchable at once. Connected after the cache receivers: the
        # refresh bumps the content version again once the new vector is written (profiles.search).
        from .search import institution_saved

        post_save.connect(institution_saved, sender=Institution, dispatch_uid="btw-search-index-save")
        # The directory's counts (profiles.tallies) move with every profile that changes facets or state.
        from . import tallies

        pre_save.connect(tallies.before_save, sender=Institution, dispatch_uid="btw-tallies-before-save")
        post_save.connect(tallies.after_save, sender=Institution, dispatch_uid="btw-tallies-save")
        post_delete.connect(tallies.after_delete, sender=Institution, dispatch_uid="btw-tallies-delete")
        m2m_changed.connect(tallies.sectors_changed, sender=Institution.sectors.through, dispatch_uid="btw-tallies-m2m")
        post_migrate.connect(tallies.build_if_missing, sender=self, dispatch_uid="btw-tallies-built")

        # A save that changes nothing records no history row; an editor's reason is kept with it.
        from . import history

        history.connect([m for m in self.get_models() if history.is_tracked(m)])
        # Every write to data-layer content appends to the change log in its transaction (profiles.change_log).
        from . import change_log

        change_log.connect()
