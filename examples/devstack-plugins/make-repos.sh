#!/bin/bash
# Makes a git repository of each plugin under plugins/, in repos/NAME.git, as a DevStack plugin
# would be published (local.conf names them by path). Run again, it leaves existing ones alone.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for plugin in "$here"/plugins/*/; do
    name=$(basename "$plugin")
    bare=$here/repos/$name.git
    [[ -d $bare ]] && continue
    work=$(mktemp -d)
    cp -R "$plugin". "$work"
    git -C "$work" init --quiet -b master
    git -C "$work" add -A
    git -C "$work" -c user.name=example -c user.email=example@example.com commit --quiet -m "$name"
    git clone --quiet --bare "$work" "$bare"
    rm -rf "$work"
    echo "$bare"
done
