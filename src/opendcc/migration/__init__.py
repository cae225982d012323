"""SMETS1 migration: adopting installed SMETS1 meters into opendcc.

- ``records``: the migration file format (JSON Lines), parsed strictly.
- ``validate``: data validation, every reason for rejection.
- ``lifecycle``: the one transition table of an installation's migration, failure categories
  and the retry strategy.
- ``store``: batches and installations in the store.
- ``pipeline``: validation and loading, device testing through the S1SP (SMETS1 Service
  Provider) adapters, commissioning, withdrawal.
- ``report``: the migration report of a batch.
"""
