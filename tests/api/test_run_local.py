"""What `make run` announces: a URL a browser on this machine can open, and GraphiQL only when it is on."""

import pytest

from api.run_local import announcement


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/"),
        ("0.0.0.0", "http://127.0.0.1:8000/"),
        ("::", "http://[::1]:8000/"),
        ("::1", "http://[::1]:8000/"),
        ("status.local", "http://status.local:8000/"),
    ],
)
def test_the_announced_url_is_one_to_open_even_when_the_server_listens_on_every_address(host, url):
    assert f"Serving on {url} : sign in as demo / demo." in announcement(host, 8000, graphiql=True)


def test_graphiql_is_announced_only_when_it_is_on():
    assert "GraphiQL is at /graphql/" in announcement("127.0.0.1", 8000, graphiql=True)
    assert "GraphiQL" not in announcement("127.0.0.1", 8000, graphiql=False)
