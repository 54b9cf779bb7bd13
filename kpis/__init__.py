"""S&OP Pulse core: configuration, storage, imports and the math behind every page.

Nothing in this package imports streamlit; pages import from here, never the reverse.
"""

__version__ = "0.1.0"
