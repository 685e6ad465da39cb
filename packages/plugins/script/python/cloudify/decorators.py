"""Cloudify's operation and workflow decorators, for scripts that use them: they only mark a
function (Weft calls nothing through them), with or without arguments."""


def _mark(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda function: function


operation = _mark
workflow = _mark
