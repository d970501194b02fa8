#!/usr/bin/env bash
# Fetch the front-end files the HTML book serves itself, so that math and widgets render offline:
# MathJax 3 and the Jupyter widgets HTML manager (with RequireJS), from the npm registry.
# They land in web_assets/ (git-ignored); the book's Sphinx extension (book/_ext/offline_assets.py)
# serves them from _static/ when they are there, and falls back to the public CDNs when not.
# Usage: bash tools/fetch_web_assets.sh        (needs npm; about 11 MB of downloads)
set -euo pipefail
cd "$(dirname "$0")/.."
MATHJAX=3.2.2
HTML_MANAGER=1.0.15
REQUIREJS=2.3.7

out=web_assets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack fetches one package's tarball (no dependencies) and checks it against the registry's
# integrity hash.
(cd "$tmp" && npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" \
  "requirejs@$REQUIREJS" >/dev/null)
for t in "$tmp"/*.tgz; do
  mkdir -p "$tmp/$(basename "$t" .tgz)"
  tar xzf "$t" -C "$tmp/$(basename "$t" .tgz)"
done

rm -rf "$out.new"
mkdir -p "$out.new/mathjax" "$out.new/widgets"
# MathJax's combined TeX/MathML component and what it loads lazily (fonts, extensions, menu);
# the speech-rule engine (es5/sre, 16 MB) is left out: only the accessibility menu uses it.
(cd "$tmp/mathjax-$MATHJAX/package/es5" && tar cf - --exclude=./sre .) | tar xf - -C "$out.new/mathjax"
cp -r "$tmp/jupyter-widgets-html-manager-$HTML_MANAGER/package/dist/." "$out.new/widgets/"
rm -f "$out.new/widgets/"*.map
cp "$tmp/requirejs-$REQUIREJS/package/require.js" "$out.new/widgets/require.js"
cat > "$out.new/VERSIONS" <<VERSIONS
mathjax $MATHJAX
@jupyter-widgets/html-manager $HTML_MANAGER
requirejs $REQUIREJS
VERSIONS
rm -rf "$out"
mv "$out.new" "$out"
echo "web assets in $out/: $(du -sh "$out" | cut -f1)"
