#!/usr/bin/env bash
# Refreshes the dashboard's vendored JavaScript (crates/master/static/vendor/) from the npm
# registry with `npm pack`. Never run by the build or the tests: the files are committed, and
# nothing needs Node to build. After a version change, update the file names in
# crates/master/src/web/assets.rs, the templates and static/vendor/VENDORED.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ECHARTS=6.1.0
CYTOSCAPE=3.34.4
HTMX=2.0.11
out=crates/master/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "echarts@$ECHARTS" "cytoscape@$CYTOSCAPE" "htmx.org@$HTMX" >/dev/null)
for tgz in "$work"/*.tgz; do
  dir="$work/$(basename "$tgz" .tgz)"
  mkdir -p "$dir" && tar xzf "$tgz" -C "$dir"
done
e="$work/echarts-$ECHARTS/package" c="$work/cytoscape-$CYTOSCAPE/package" h="$work/htmx.org-$HTMX/package"
cp "$e/dist/echarts.common.min.js" "$out/echarts-$ECHARTS.common.min.js"
cp "$e/i18n/langJA.js" "$out/echarts-$ECHARTS-langJA.js"
cp "$e/LICENSE" "$out/echarts-LICENSE.txt"
cp "$e/NOTICE" "$out/echarts-NOTICE.txt"
cp "$e/licenses/LICENSE-d3" "$out/echarts-LICENSE-d3.txt"
cp "$c/dist/cytoscape.min.js" "$out/cytoscape-$CYTOSCAPE.min.js"
cp "$c/LICENSE" "$out/cytoscape-LICENSE.txt"
cp "$h/dist/htmx.min.js" "$out/htmx-$HTMX.min.js"
cp "$h/LICENSE" "$out/htmx-LICENSE.txt"
(cd "$out" && sha256sum ./*.js)
