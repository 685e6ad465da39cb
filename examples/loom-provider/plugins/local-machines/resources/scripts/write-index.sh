#!/usr/bin/env bash
# A Coopr-style `scripts` resource of the localshell automator: on PATH while its tasks run.
echo "hello from $LOOM_HOST ($LOOM_IP)" > index.html
