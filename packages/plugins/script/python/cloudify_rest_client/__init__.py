"""Cloudify's REST client, as far as scripts run by Weft need it: its exceptions (the ctx raises
them where Cloudify's manager would answer with an error). There is no manager to talk to, so a
client cannot be made."""

from .exceptions import CloudifyClientError


class CloudifyClient(object):
    def __init__(self, *args, **kwargs):
        raise CloudifyClientError(
            'there is no Cloudify manager here: Weft runs this script locally; '
            'use the ctx for runtime properties and resources')


__all__ = ['CloudifyClient', 'CloudifyClientError']
