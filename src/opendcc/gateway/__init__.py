"""The gateway: DUIS over HTTP. Users POST signed requests; the hub POSTs back to Users."""
