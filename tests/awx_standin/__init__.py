# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in AWX 24.6.1 API server for the tests (see fixtures.py for the pytest API).

It answers like the recorded exchanges in ``../shared/awx-contract`` (checked by
tests/integration/test_awx_contract.py): a small data-driven table of resources
(resources.py), an in-memory store (store.py) and an HTTP front (server.py) that also
logs requests and injects faults. Run it alone with ``python -m tests.awx_standin --port N``.
"""

from .server import StandIn

__all__ = ["StandIn"]
