#!/usr/bin/env bash
set -euo pipefail
ctx instance runtime-properties ip 127.0.0.1
ctx logger info "web front end on port $(ctx node properties port)"
