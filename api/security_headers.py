"""A Content-Security-Policy on every HTML page that does not set its own.

Django 5.2 has none built in (6.0 does). Every page of the project (the
app's, the sign-in page, GraphiQL, the admin) loads scripts and styles from
this server only, so one strict policy serves them all.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

HEADER = "Content-Security-Policy"
# With DEBUG, Django's technical 404 and 500 pages use inline scripts and styles.
DEBUG_PAGE_STATUSES = (404, 500)


def add_content_security_policy(response):
    if HEADER in response or not settings.CONTENT_SECURITY_POLICY:
        return response
    if not response.get("Content-Type", "").startswith("text/html"):
        return response
    if settings.DEBUG and response.status_code in DEBUG_PAGE_STATUSES:
        return response
    response[HEADER] = settings.CONTENT_SECURITY_POLICY
    return response


class ContentSecurityPolicyMiddleware:
    """Sync and async alike: no thread hop for the async views."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return add_content_security_policy(self.get_response(request))

    async def __acall__(self, request):
        return add_content_security_policy(await self.get_response(request))
