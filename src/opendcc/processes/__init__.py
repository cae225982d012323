"""The hub's processes, each a room of its own with a ``main``, wired from the one configuration.

- ``gateway``: the HTTP front door (DUIS, the UTRN service, the admin API); any number share a
  port (SO_REUSEPORT) or listen on their own.
- ``worker``: claims jobs and carries each through ``dsp.route`` (DCO, S1SP adapters).
- ``deliverer``: the outbox to Users' callbacks.
- ``scheduler``: time- and alert-driven work (head-ends' alerts, S1SP notices, future-dated
  time-outs, one-step top-ups' resumption, firmware distribution, DCC schedules' runs).
- ``supervisor``: ``opendcc serve``, the embedded default: prepares the store, starts the
  others as child processes, restarts a child that dies and stops them all on SIGTERM.

What they share is the store (the truth) and, in scale mode, the broker; never each other's
internals. ``wake`` lets a commit in one wake the process that takes its work (embedded).
See docs/architecture.md.
"""
