#!/usr/bin/env bash
# Source side of app -> database: copy the database URL into the app's runtime properties.
set -euo pipefail
ctx source instance runtime-properties database_url "$(ctx target instance runtime-properties url)"
