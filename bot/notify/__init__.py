"""The outbox worker (worker.py), its pacing (pace.py) and how notices read (notices.py)."""
