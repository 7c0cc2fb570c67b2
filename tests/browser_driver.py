"""A stand-in "browser" command for Settings.browser, for the test that runs a real browser
command: signs in through the emulator's pages with the credentials in AUTHTEST_* variables,
then follows the redirect to the loopback listener. Usage: python browser_driver.py URL

A test helper only: users without a desktop browser use ``m365bot connect --signin url`` or
``--signin device-code`` (docs/connect.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os

from auth_support import deliver, sign_in_location

info = {"proxy_url": os.environ["AUTHTEST_PROXY"], "ca_bundle": os.environ["AUTHTEST_CA"]}
loc = sign_in_location(info, sys.argv[1], os.environ["AUTHTEST_UPN"],
                       os.environ["AUTHTEST_PASSWORD"])
deliver(loc)
