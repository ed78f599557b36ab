#!/usr/bin/env bash
# Rebuilds frontend/vendor/plotly-scattergl.min.js, the partial plotly.js bundle the dashboard serves.
# Needs node and npm (the registry), nothing else; the result is committed, so running the dashboard
# needs no build step. Keep PLOTLY_VERSION equal to the plotly.js inside the plotly Python package.
set -euo pipefail
PLOTLY_VERSION=${PLOTLY_VERSION:-4.1.1}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/entry.js" "$work/"
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "plotly.js@$PLOTLY_VERSION" esbuild@0 buffer@6
npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly \
  --define:process.env.NODE_ENV='"production"' --define:global=window \
  --banner:js="/*! plotly.js v$PLOTLY_VERSION (MIT license, Plotly Inc.): core + scattergl + parcoords, built by scripts/plotly-bundle/build.sh */" \
  --legal-comments=eof --log-level=warning --outfile=out/plotly.js
# (the maplibre stylesheet esbuild also writes to out/plotly.css is for map traces we leave out)
cp out/plotly.js "$root/frontend/vendor/plotly-scattergl.min.js"
ls -l "$root/frontend/vendor/plotly-scattergl.min.js"
