#!/usr/bin/env bash
set -euo pipefail
ctx logger info "database listening on port $(ctx node properties port)"
