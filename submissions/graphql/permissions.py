"""Who may call what: read the viewer the API layer put in the context."""

from strawberry.types import Info

from submissions.exceptions import Forbidden, Unauthenticated


def optional_viewer(info: Info):
    """The caller, or None when anonymous; credentials that were sent but are bad get UNAUTHENTICATED."""
    if credentials_error := info.context.get("credentials_error"):
        raise Unauthenticated(credentials_error)
    return info.context.get("viewer")


def require_viewer(info: Info):
    """The authenticated caller; anonymous callers get UNAUTHENTICATED."""
    viewer = info.context.get("viewer")
    if viewer is None:
        raise Unauthenticated(
            info.context.get("credentials_error") or "Sign in, or send an API token as 'Authorization: Bearer <token>'."
        )
    return viewer


def require_service(info: Info):
    """A service caller (service token or staff); owners get FORBIDDEN."""
    viewer = require_viewer(info)
    if not viewer.is_service:
        raise Forbidden("Only services may do this: use a token made with create_api_token --service.")
    return viewer
