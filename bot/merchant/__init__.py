"""The merchant's side of the chat: commands and the day's report."""
