from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token for a user or a service; only a hash of the token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    is_service = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        kind = "service" if self.is_service else "user"
        return f"{kind} token of {self.user}"
