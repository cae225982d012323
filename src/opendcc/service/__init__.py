"""The service room: what the DCC reports about the service it runs, rather than about any one
User's data, and how it manages the service.

- ``performance``: the performance report over a period, per SRV (Service Reference Variant),
  with MP169's exclusion of consumption reads refused to restricted devices.
- ``imp``, ``incidents``: incidents under the Incident Management Policy and their SLA clocks.
- ``diagnosis``: inventory search and a device's self-diagnosis facts and connectivity check.
- ``status``, ``availability``, ``monitor``: components, outages, maintenance, availability.
- ``liveness``: each hub process's heartbeat row; ``hub_monitor``: the one monitor per hub.
- ``cpm``: Code Performance Measures CPM1/CPM2; ``audit_search``; ``reports``.
"""
