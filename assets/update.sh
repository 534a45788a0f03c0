#!/usr/bin/env bash
# Refreshes the vendored API-docs UIs from the npm registry, at pinned versions.
#
#   assets/update.sh            fetch the pinned packages with npm into a temp dir and copy the
#                               files the server serves into assets/swagger-ui/ and assets/redoc/
#   assets/update.sh --check    fetch them again and fail if what is committed differs (the
#                               vendored files are exactly the registry's, byte for byte)
#
# To move to a new release: change a version below, run the script, open /api/docs/ and
# /api/redoc/, and run `cargo test --test docs --test browser` (the browser test fails if either
# page makes a request that leaves the host). Our own files in each folder (index.html, init.js)
# are never touched by this script.
#
# The packages are fetched with `npm pack` (the registry's tarball, checked against its published
# integrity hash) rather than installed: we ship two self-contained browser bundles, so there is
# no dependency tree to resolve and no package install script runs (swagger-ui-dist depends on
# @scarf/scarf, whose install script reports downloads to a third party; redoc 3 declares
# @redocly/redoc-opentelemetry ^0.5, which its standalone bundle already carries and which the
# registry mirror here does not have).
set -euo pipefail

SWAGGER_UI_DIST_VERSION="5.35.0"
REDOC_VERSION="3.0.1"

# Files taken from each package, as "path/in/package:name/in/assets".
SWAGGER_FILES=(
  "swagger-ui-bundle.js:swagger-ui-bundle.js"
  "swagger-ui-bundle.js.LICENSE.txt:swagger-ui-bundle.js.LICENSE.txt"
  "swagger-ui.css:swagger-ui.css"
  "favicon-32x32.png:favicon-32x32.png"
  "LICENSE:LICENSE"
  "NOTICE:NOTICE"
)
REDOC_FILES=(
  "bundles/redoc.standalone.js:redoc.standalone.js"
  "LICENSE:LICENSE"
)
# Ours, kept as they are.
OURS=(index.html init.js)
keep=()
for f in "${OURS[@]}"; do keep+=(! -name "$f"); done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

out="$here"
if $check; then
  out="$work/assets"
  mkdir -p "$out"
  cp -R "$here/swagger-ui" "$here/redoc" "$out/"
fi

# fetch NAME VERSION: unpacks NAME@VERSION into $work/NAME and prints "NAME@VERSION INTEGRITY".
fetch() {
  local name="$1" version="$2" meta
  mkdir -p "$work/$name"
  meta="$(cd "$work" && npm pack "$name@$version" --json --loglevel=error --pack-destination "$work")"
  tar -xzf "$work/$name-$version.tgz" -C "$work/$name" --strip-components=1
  # shellcheck disable=SC2016 # a JavaScript template literal, not shell
  node -e '
    const [m] = JSON.parse(process.argv[1]);
    if (m.name !== process.argv[2] || m.version !== process.argv[3]) {
      console.error(`npm gave ${m.name}@${m.version}`);
      process.exit(1);
    }
    console.log(`${m.name}@${m.version} ${m.integrity}`);
  ' "$meta" "$name" "$version"
}

# copy NAME DEST PAIRS...: replaces every file of DEST except ours with the listed files.
copy() {
  local name="$1" dest="$2"; shift 2
  mkdir -p "$dest"
  find "$dest" -type f "${keep[@]}" -delete
  for pair in "$@"; do
    cp "$work/$name/${pair%%:*}" "$dest/${pair#*:}"
  done
}

swagger="$(fetch swagger-ui-dist "$SWAGGER_UI_DIST_VERSION")"
redoc="$(fetch redoc "$REDOC_VERSION")"
copy swagger-ui-dist "$out/swagger-ui" "${SWAGGER_FILES[@]}"
copy redoc "$out/redoc" "${REDOC_FILES[@]}"

# versions.txt: the packages (with the registry's integrity hash) and the sha256 of every file
# the binary embeds, so a review can tell vendored files from edited ones.
{
  echo "# Written by assets/update.sh; do not edit. From the npm registry:"
  echo "$swagger"
  echo "$redoc"
  echo "# sha256 of the vendored files (index.html and init.js beside them are ours):"
  (cd "$out" && find swagger-ui redoc -type f "${keep[@]}" | LC_ALL=C sort | xargs sha256sum)
} >"$work/versions.txt"

if $check; then
  status=0
  diff -r "$here/swagger-ui" "$out/swagger-ui" || status=1
  diff -r "$here/redoc" "$out/redoc" || status=1
  diff "$here/versions.txt" "$work/versions.txt" || status=1
  if [ "$status" -ne 0 ]; then
    echo "assets/ differs from the pinned packages: run assets/update.sh" >&2
    exit 1
  fi
  echo "assets/ matches ${swagger%% *} and ${redoc%% *}"
else
  cp "$work/versions.txt" "$here/versions.txt"
  # include_dir! notices changed contents of embedded files, not added or removed ones.
  if [ -f "$here/../src/api/docs.rs" ]; then touch "$here/../src/api/docs.rs"; fi
  echo "vendored ${swagger%% *} and ${redoc%% *} into assets/"
fi
