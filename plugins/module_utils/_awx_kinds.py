# -*- coding: utf-8 -*-
# Copyright: eeforge contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX object kinds that name an execution environment, and the field each names it in.

Its own small file: awx_execution_environment needs the list (which objects use an EE it would
delete) without the usage report's code, which every task of a loop would otherwise load.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Reference kind -> (list endpoint, field naming the EE, AWX object type)
REFERENCE_KINDS = (
    ("job_templates", "job_templates/", "execution_environment", "job_template"),
    ("workflow_nodes", "workflow_job_template_nodes/", "execution_environment", "workflow_job_template_node"),
    ("organizations", "organizations/", "default_environment", "organization"),
    ("projects", "projects/", "default_environment", "project"),
    ("inventory_sources", "inventory_sources/", "execution_environment", "inventory_source"),
)
