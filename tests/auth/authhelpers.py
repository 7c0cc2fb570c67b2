"""Old name of auth_support and world_support, kept until the tests still importing it
(test_auth_client_credentials, test_auth_refresh, test_auth_rt_and_logs) are updated."""

from auth_support import expire_cached_tokens, signed_in_alice
from world_support import CLOUD_KEY, app, secret, tenant
from world_support import login_requests as identity_requests

__all__ = ["CLOUD_KEY", "app", "expire_cached_tokens", "identity_requests", "secret",
           "signed_in_alice", "tenant"]
