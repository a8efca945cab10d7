#!/usr/bin/env bash
# dist.sh OUTDIR VERSION: cross-compile the CLI and every action binary for
# every runner platform into OUTDIR, named per the asset naming contract at the
# top of scripts/launch.sh, and write OUTDIR/SHA256SUMS.
#
#   ERLMCP_DIST_PLATFORMS="linux/amd64 ..."   build only these (default: all)
set -euo pipefail

if [[ $# -ne 2 || -z $1 || -z $2 ]]; then
	echo "usage: $0 OUTDIR VERSION" >&2
	exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/launch.sh
source "$here/launch.sh" # the contract: ERLMCP_*, erlmcp_asset_name, erlmcp_package, erlmcp_sha256

mkdir -p "$1"
out=$(cd "$1" && pwd)
version=$2
if [[ ! $version =~ ^[A-Za-z0-9._+-]+$ ]]; then
	echo "dist.sh: VERSION '$version' may only hold letters, digits and . _ + -" >&2
	exit 2
fi
cd "$here/.."

platforms=${ERLMCP_DIST_PLATFORMS:-$ERLMCP_PLATFORMS}
assets=""
for platform in $platforms; do
	goos=${platform%/*}
	goarch=${platform#*/}
	for name in "$ERLMCP_CLI" $ERLMCP_IDS; do
		asset=$(erlmcp_asset_name "$name" "$goos" "$goarch")
		echo "dist: $asset" >&2
		CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOWORK=off \
			go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$out/$asset" "$(erlmcp_package "$name")"
		assets="$assets $asset"
	done
done

sums="$out/$ERLMCP_SUMS"
: >"$sums.tmp"
# shellcheck disable=SC2086 # split the list
for asset in $(printf '%s\n' $assets | LC_ALL=C sort); do
	printf '%s  %s\n' "$(erlmcp_sha256 "$out/$asset")" "$asset" >>"$sums.tmp"
done
mv -f "$sums.tmp" "$sums"
echo "dist: wrote $(wc -l <"$sums" | tr -d ' ') checksums to $sums" >&2
