from django.conf import settings
from django.db import models


class Status(models.TextChoices):
    WAITING = "WAITING", "Waiting"
    LOADED = "LOADED", "Loaded"
    SUBMITTED = "SUBMITTED", "Submitted"
    ERROR = "ERROR", "Error"
    NEED_REVISION = "NEED_REVISION", "Need Revision"
    READY = "READY", "Ready"
    COMPLETED = "COMPLETED", "Completed"


class RecordKind(models.TextChoices):
    ANIMAL = "ANIMAL", "Animal"
    SAMPLE = "SAMPLE", "Sample"


class ValidationOutcome(models.TextChoices):
    PASS = "PASS", "Pass"
    WARNING = "WARNING", "Warning"
    ERROR = "ERROR", "Error"


class Submission(models.Model):
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    message = models.TextField(blank=True)
    # Grows by one with every published change, so subscribers can order
    # events and detect the ones they missed.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "status"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        # `version` is assigned by the service layer under the row lock. A plain
        # save (say, of an object loaded before other changes) must never write
        # an old version back, or subscribers would see versions repeat.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name for field in self._meta.concrete_fields if not field.primary_key and field.name != "version"
            ]
        super().save(*args, **kwargs)


class Record(models.Model):
    """An animal or a sample of a submission, with free attributes."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=8, choices=RecordKind.choices)
    name = models.CharField(max_length=255)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["submission", "kind", "name"], name="record_name_unique_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class ValidationResult(models.Model):
    record = models.OneToOneField(Record, on_delete=models.CASCADE, related_name="validation_result")
    outcome = models.CharField(max_length=8, choices=ValidationOutcome.choices)
    validated_at = models.DateTimeField(auto_now=True)


class ValidationMessage(models.Model):
    result = models.ForeignKey(ValidationResult, on_delete=models.CASCADE, related_name="messages")
    message = models.TextField()
    offending_column = models.CharField(max_length=255, blank=True)
