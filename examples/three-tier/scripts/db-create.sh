#!/usr/bin/env bash
# Creates the database's data directory and records where clients find it.
set -euo pipefail
data_dir="$(mktemp -d)"
ctx instance runtime-properties data_dir "$data_dir"
ctx instance runtime-properties url "postgres://$(ctx instance host-ip):$(ctx node properties port)/${DB_NAME}"
ctx logger info "database ${DB_NAME} created in ${data_dir}"
