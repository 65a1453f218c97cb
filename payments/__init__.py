"""Talking to payment gateways. GATEWAYS names every adapter by its method-id prefix."""
