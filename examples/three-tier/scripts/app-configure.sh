#!/usr/bin/env bash
set -euo pipefail
ctx logger info "app configured against $(ctx instance runtime-properties database_url)"
