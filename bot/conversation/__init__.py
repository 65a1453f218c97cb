"""The conversation, pure: flow.step(state, event, ctx) -> replies and effects.

No I/O, clock or randomness here; bot/dispatch/ carries the effects out.
"""
