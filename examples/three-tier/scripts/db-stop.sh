#!/usr/bin/env bash
set -euo pipefail
rm -rf "$(ctx instance runtime-properties data_dir)"
ctx logger info "database stopped"
