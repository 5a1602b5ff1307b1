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
    # The identifier the archive gave the record when the submission was submitted.
    accession = models.CharField(max_length=64, blank=True)

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


class WorkRequestKind(models.TextChoices):
    VALIDATION = "VALIDATION", "Validation"
    SUBMISSION = "SUBMISSION", "Submission"


class WorkRequestState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    CLAIMED = "CLAIMED", "Claimed"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"


class WorkRequest(models.Model):
    """Work an owner asked for, stored with the status change that asked, until a worker has done it.

    A worker claims it under a lease: until `lease_expires_at` no other worker
    gets it; after that (the worker died) it is handed out again, under a new
    `lease_id`, and the old lease no longer counts.
    """

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="work_requests")
    kind = models.CharField(max_length=16, choices=WorkRequestKind.choices)
    state = models.CharField(max_length=8, choices=WorkRequestState.choices, default=WorkRequestState.PENDING)
    lease_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Kept after the lease ends: an operator asks that worker's logs what happened.
    worker = models.CharField(max_length=255, blank=True)
    # Bounds the retries: past settings.WORK_MAX_ATTEMPTS a claim fails the request instead.
    attempts = models.PositiveIntegerField(default=0)
    # Also set when the work is handed back for a retry, so the next attempt's operator sees the last one's reason.
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["state", "lease_expires_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of submission {self.submission_id} ({self.get_state_display()})"
