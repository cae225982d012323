"""The service room: what the DCC reports about the service it runs, rather than about any one
User's data.

- ``performance``: the performance report over a period, per SRV (Service Reference Variant),
  with MP169's exclusion of consumption reads refused to restricted devices.
"""
