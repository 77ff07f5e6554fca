#!/bin/sh
# Build IBTool's four artifacts into DIST (default ./dist): the API (server and its control
# script, with the version), the static front end, the SQL scripts and the purge batch.
#   examples/ibtool/build.sh 1.0.0 [DIST]
set -eu
version=${1:?give the version, e.g. 1.0.0}
here=$(cd "$(dirname "$0")" && pwd)
dist=${2:-$here/dist}
mkdir -p "$dist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/api"
cp "$here/api/server.py" "$here/api/ctl.sh" "$work/api/"
chmod +x "$work/api/ctl.sh"
echo "$version" >"$work/api/VERSION"
tar -czf "$dist/ibtool-api-$version.tar.gz" -C "$work/api" server.py ctl.sh VERSION
tar -czf "$dist/ibtool-front-$version.tar.gz" -C "$here/front" index.html app.js
tar -czf "$dist/ibtool-sql-$version.tar.gz" -C "$here/sql" up.sql down.sql
cp "$here/batch/purge.sh" "$dist/ibtool-purge-$version.sh"
ls "$dist"/*"$version"*
