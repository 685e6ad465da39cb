#!/usr/bin/env bash
set -euo pipefail
ctx instance runtime-properties started_at "$(date -u +%FT%TZ)"
