# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in AWX 24.6.1 API server for the tests (see fixtures.py for the pytest API).

It answers like the recorded exchanges in ``tests/awx_contract`` (the repository's copy of
``../shared/awx-contract``; 01-99 and fleet/100-154 are replayed by tests/integration/test_awx_contract.py):
a data-driven table of resources (resources.py), an
in-memory store with the few recorded rules (store.py) and an HTTP front that also logs requests
and injects faults (server.py). Run it alone with ``python -m tests.awx_standin --port N``.

Not backed by a recording (from AWX's source, its docs or awx.awx/awxkit needs; a module must not
depend on these details without checking a real AWX):

- ``GET /api/``, the ``X-API-Product-Name``/``-Version`` headers, ``DELETE /api/v2/tokens/<id>/``,
  ``/api/v2/settings/`` and ``/api/v2/settings/all/`` (only the system and jobs keys).
- A settings PATCH answers the whole category (68, 72, 73); the recording of 74 shows three keys only.
- ``$encrypted$`` for a secret input with nothing stored: 500 (Credential.save's ``inputs_before[field]``).
  Unknown or mistyped credential inputs: 400 with invented messages. A credential without
  organization/user/team: 400 ``Missing 'user', 'team', or 'organization'.``
- Filters beyond ``?name=``/``?kind=``/``?namespace=``/pagination: lookups (``__in``, ``__isnull``,
  ``__icontains``...), ``or__``, ``not__``, relation spans, ``search``, ``order_by``; default orderings.
- Uniqueness of inventories, projects, templates, instance groups, node identifiers (messages guessed);
  manual project ``local_path`` errors; job template project/playbook/inventory errors; SCM projects
  stay ``pending`` with no project update and accept any playbook.
- Bulk: ``GET /api/v2/bulk/host_create/`` and ``job_launch/`` answer ``{}``; ``host_delete`` is listed but
  not served (404); the messages for more than 100 hosts or jobs, for a missing inventory or job template
  in a bulk request, and the all-or-nothing host creation (read from the source, not recorded).
- ``page_size=abc``: a 500 HTML page when there is a next page (seen with curl, not recorded).
- The PATCH of an inventory source (the same detail view as the recorded job template and project PATCHes).
- Non-superusers: every write 403, most reads hidden (AWX's RBAC is not modelled).
- Associations (``/job_templates/<id>/credentials/`` ...), survey specs, inventory updates, OPTIONS of
  resources other than execution environments, launch prompts other than ``execution_environment``,
  cascades on delete other than the EE ones, null → ``""``/``False`` for char/boolean fields.
- Seeds other than the recorded ones: credential types other than 5, 6, 9, 10 and 18 (names, kinds,
  namespaces and ids of a 24.6.1 install; input schemas abridged), Demo objects' details.
"""

from .server import StandIn

__all__ = ["StandIn"]
