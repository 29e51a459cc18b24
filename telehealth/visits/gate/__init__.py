"""Domain: the controlled-substance gate: `policy` (pure decisions), `facts` (the queries
that gather them), `pathways` (the optional routes' arithmetic) and `service` (the one entry
point, `check_controlled_order`, which decides and audits)."""
