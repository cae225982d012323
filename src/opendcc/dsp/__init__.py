"""DSP (Data Service Provider): what the DCC does with a request between its front door and the
cohort's S1SP (SMETS1 Service Provider) — access control, routing, scheduling, correlation."""
