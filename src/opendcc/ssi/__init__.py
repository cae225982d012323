"""The Self Service Interface (SSI): the DCC's one web front for DCC Users and the service desk.

Server-rendered pages (Starlette + Jinja2, plain forms, no script build) mounted by the hub at
``/ssi/``: inventory search and self-diagnosis, incidents under the Incident Management Policy
(IMP), service status and maintenance, performance measures (CPM1/CPM2), the audit trail and
reports. The views are thin: the work is done by the ``service`` and ``inventory`` rooms' services,
which the JSON API (``ssi.api``) and the CLI use too. See ``docs/ssi.md``.
"""
