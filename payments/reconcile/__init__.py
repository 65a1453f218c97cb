"""The poller: confirms payments whose callbacks never came, and answers "check status".

poller.py claims due payments and runs checks; checks.py asks a gateway and settles the
answers; schedule.py says when to ask next; throttle.py keeps each gateway's rate limit,
backoff and circuit; sweeps.py expires orders and alerts on missing callbacks; ports.py is
what it needs from storage; writer.py settles answers one transaction at a time.
"""
