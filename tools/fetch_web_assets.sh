#!/usr/bin/env bash
# Fetch the front-end files the HTML book serves itself, so that it works offline: MathJax 3, the
# Jupyter widgets HTML manager (with RequireJS), and ONNX Runtime Web (the digit pad's runtime,
# single-threaded WebAssembly), all from the npm registry; and axe-core, the accessibility checker
# tests/test_a11y.py runs on every page (not copied into the book).
# They land in web_assets/ (git-ignored); the book's Sphinx extension (book/_ext/offline_assets.py)
# runs this script itself when they are missing and npm is there, serves them from _static/, and
# falls back to the public CDNs when it cannot.
# Usage: bash tools/fetch_web_assets.sh        (needs npm; about 45 MB of downloads and on disk)
set -euo pipefail
cd "$(dirname "$0")/.."
MATHJAX=3.2.2
HTML_MANAGER=1.0.15
REQUIREJS=2.3.7
ORT_WEB=1.30.0   # keep in step with the CDN fallback in book/_ext/offline_assets.py
AXE=4.14.1

out=web_assets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$out.new"' EXIT
# npm pack fetches one package's tarball (no dependencies) and checks it against the registry's
# integrity hash.
(cd "$tmp" && npm pack --silent "mathjax@$MATHJAX" "@jupyter-widgets/html-manager@$HTML_MANAGER" \
  "requirejs@$REQUIREJS" "onnxruntime-web@$ORT_WEB" "axe-core@$AXE" >/dev/null)
for t in "$tmp"/*.tgz; do
  mkdir -p "$tmp/$(basename "$t" .tgz)"
  tar xzf "$t" -C "$tmp/$(basename "$t" .tgz)"
done

rm -rf "$out.new"
mkdir -p "$out.new/mathjax" "$out.new/widgets" "$out.new/ort" "$out.new/axe"
# MathJax's combined TeX/MathML component and what it loads lazily (fonts, extensions, menu);
# the speech-rule engine (es5/sre, 16 MB) is left out: only the accessibility menu uses it.
(cd "$tmp/mathjax-$MATHJAX/package/es5" && tar cf - --exclude=./sre .) | tar xf - -C "$out.new/mathjax"
cp -r "$tmp/jupyter-widgets-html-manager-$HTML_MANAGER/package/dist/." "$out.new/widgets/"
rm -f "$out.new/widgets/"*.map
cp "$tmp/requirejs-$REQUIREJS/package/require.js" "$out.new/widgets/require.js"
# ONNX Runtime Web's WebAssembly build: the script, and the module and binary it loads. With one
# thread it needs no SharedArrayBuffer, so any static server (no special headers) will do.
for f in ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp "$tmp/onnxruntime-web-$ORT_WEB/package/dist/$f" "$out.new/ort/$f"
done
cp "$tmp/axe-core-$AXE/package/axe.min.js" "$out.new/axe/axe.min.js"
cat > "$out.new/VERSIONS" <<VERSIONS
mathjax $MATHJAX
@jupyter-widgets/html-manager $HTML_MANAGER
requirejs $REQUIREJS
onnxruntime-web $ORT_WEB
axe-core $AXE
VERSIONS
rm -rf "$out"
mv "$out.new" "$out"
echo "web assets in $out/: $(du -sh "$out" | cut -f1)"
