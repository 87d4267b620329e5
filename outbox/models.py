"""One row per e-mail the site sends: what it says, and how far its delivery got."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutgoingMailQuerySet(models.QuerySet):
    def due(self, now=None):
        """Queued messages whose next attempt has come, oldest first."""
        return self.filter(state=OutgoingMail.State.QUEUED, next_attempt_at__lte=now or timezone.now()).order_by(
            "next_attempt_at", "pk"
        )

    def waiting(self):
        return self.filter(state=OutgoingMail.State.QUEUED)

    def failed(self):
        return self.filter(state=OutgoingMail.State.FAILED)

    def stuck(self, older_than):
        """Claimed by a sender that never said how it went (it crashed mid-send): maybe delivered,
        so never retried automatically; staff decide."""
        return self.filter(state=OutgoingMail.State.SENDING, claimed_at__lt=timezone.now() - older_than)


class OutgoingMail(models.Model):
    """One e-mail: queued with the act that causes it, sent at most once.

    A sender claims a queued row (conditional UPDATE to `sending`, committed before it talks to
    SMTP), then marks it `sent` as soon as the server accepted it, or puts it back with a later
    `next_attempt_at`; after `outbox.services.MAX_ATTEMPTS` it is `failed` for good.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    kind = models.CharField(max_length=100, help_text="What the message is (a digest, an account e-mail, …).")
    from_email = models.CharField(max_length=254)
    to = models.JSONField(help_text="The recipients' addresses.")
    subject = models.TextField()
    body = models.TextField(help_text="The plain-text part.")
    html = models.TextField(blank=True, help_text="The HTML part, if any.")
    headers = models.JSONField(default=dict, blank=True, help_text="Extra headers; Message-ID is fixed at queueing.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a sender last took it.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the SMTP server accepted it.")
    last_error = models.TextField(blank=True, help_text="Why the last attempt failed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = OutgoingMailQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "outgoing e-mail"
        verbose_name_plural = "outgoing e-mail"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False), name="outbox_sent_has_sent_at"
            ),
        ]

    def __str__(self):
        return f"{self.subject} → {', '.join(self.to)} ({self.get_state_display().lower()})"

    def as_message(self, connection=None) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.body,
            from_email=self.from_email,
            to=list(self.to),
            headers=dict(self.headers),
            connection=connection,
        )
        if self.html:
            message.attach_alternative(self.html, "text/html")
        return message
