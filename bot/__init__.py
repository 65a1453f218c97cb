"""checkout-bot: the chat, its composition root (app.py) and its command line (__main__.py)."""

from importlib.metadata import PackageNotFoundError, version


def installed_version() -> str:
    """The installed package's version, for --version and the start-up block."""
    try:
        return version("checkout-bot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
