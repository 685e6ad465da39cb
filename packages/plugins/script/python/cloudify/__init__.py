"""Weft's stand-in for Cloudify's `cloudify` package, for scripts run by the script plugin:
`from cloudify import ctx` gives the running operation's ctx, served over CTX_SOCKET_URL."""

from .context import CloudifyContext

ctx = CloudifyContext()
