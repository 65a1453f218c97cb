"""Channel-neutral handling of what a customer did: load the chat, step, save, run effects."""
