#!/bin/bash -e
# Starts python3's static file server in the background and waits until it answers.
root=$(ctx instance runtime-properties document_root)
port=$(ctx node properties port)
cd "$root"
ctx logger info "Starting the web server on port $port"
nohup python3 -m http.server "$port" --bind 127.0.0.1 > server.log 2>&1 &
pid=$!
ctx instance runtime-properties pid "$pid"

for attempt in $(seq 1 50); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)" 2> /dev/null; then
    ctx logger info "The web server answers on http://127.0.0.1:$port (pid $pid)"
    exit 0
  fi
  if ! kill -0 "$pid" 2> /dev/null; then
    ctx logger error "The web server exited: $(tail -n 3 server.log)"
    ctx abort_operation "the web server could not start on port $port"
    exit 1
  fi
  sleep 0.1
done
ctx retry_operation "the web server does not answer on port $port yet"
