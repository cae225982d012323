"""Durable work dispatch: the job table that feeds workers, and the outbox to Users' callbacks.

The database is the truth; these only carry work. A job row is written in the same transaction
as the request it belongs to, and deleted in the same transaction as the request's outcome; an
outbox row is written with the outcome and marked delivered when the User's endpoint takes it.
A crash anywhere leaves rows that the next start picks up again.
"""
