"""Old name of world_support, kept until the tests still importing it (test_graph_client,
test_graph_stdhttp) are updated."""

from world_support import app, graph_requests, login_requests, secret_of

__all__ = ["app", "graph_requests", "login_requests", "secret_of"]
