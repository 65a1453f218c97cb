"""What the chat sells: the operator's catalog file (spec.py), its sync into the database
(sync.py) and the cache the conversation reads it from (cache.py)."""
