"""POST /callbacks/{gateway}: read, verify, store, apply, answer (route.py); what is refused
is kept at a bounded cost off that path (refused.py)."""
