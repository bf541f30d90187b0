"""Operating the product: the figures behind the console's panes and the alert rules (``monitor``),
diagnostics, the worker's heartbeat and job outcomes (``heartbeat``) and housekeeping (``cleanup``)."""
