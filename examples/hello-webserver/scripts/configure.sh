#!/bin/bash -e
# Renders the page into a document root of this deployment's own and remembers where it is.
root="${TMPDIR:-/tmp}/weft-hello-$(ctx deployment id)-$(ctx instance id)"
mkdir -p "$root"
ctx logger info "Rendering the page into $root"
ctx download-resource-and-render templates/index.html "$root/index.html" \
  "@{\"template_variables\": {\"started\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}}" > /dev/null
ctx instance runtime-properties document_root "$root"
