"""Development environments (spec 01): long-lived interactive jobs behind the proxy."""
