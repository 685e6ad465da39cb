#!/bin/bash -e
# Stops the web server (if it still runs) and removes the document root.
pid=$(ctx instance runtime-properties pid)
if [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null; then
  ctx logger info "Stopping the web server (pid $pid)"
  kill "$pid"
fi
root=$(ctx instance runtime-properties document_root)
[ -n "$root" ] && rm -rf "$root"
ctx instance runtime-properties pid ""
