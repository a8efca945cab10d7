#!/usr/bin/env bash
# dist.sh OUTDIR VERSION: cross-compile the CLI and every action binary for
# every runner platform into OUTDIR, named per the asset naming contract at the
# top of scripts/launch.sh, and write OUTDIR/SHA256SUMS.
#
#   ERLMCP_DIST_PLATFORMS="linux/amd64 ..."   build only these (default: all)
#
# dist.sh --bundle ASSETDIR BUNDLEDIR VERSION: the BUNDLE of scripts/launch.sh
# (what a release commit carries, so that a release ref needs no download and
# no Go): BUNDLEDIR/<asset>.gz for each asset of ASSETDIR (an OUTDIR above)
# of the bundled platforms, BUNDLEDIR/SHA256SUMS (ASSETDIR's, checked first)
# and BUNDLEDIR/VERSION.
#
#   ERLMCP_BUNDLE_PLATFORMS="linux/amd64 ..." bundle these (default: the
#                                             contract's, Linux amd64 and arm64)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bundle_platforms=${ERLMCP_BUNDLE_PLATFORMS:-} # before the contract sets its default
# shellcheck source=scripts/launch.sh
source "$here/launch.sh" # the contract: ERLMCP_*, erlmcp_asset_name, erlmcp_package, erlmcp_sha256

if [[ ${1:-} == --bundle ]]; then
	if [[ $# -ne 4 || -z $2 || -z $3 || -z $4 ]]; then
		echo "usage: $0 --bundle ASSETDIR BUNDLEDIR VERSION" >&2
		exit 2
	fi
	assets=$2 bundle=$3 version=$4
	if [[ ! $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
		echo "dist.sh: VERSION '$version' is not vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2
		exit 2
	fi
	sha=$(erlmcp_sha256_cmd) || {
		echo "dist.sh: no sha256sum or shasum" >&2
		exit 1
	}
	(cd "$assets" && $sha -c "$ERLMCP_SUMS" >/dev/null) || {
		echo "dist.sh: $assets/$ERLMCP_SUMS does not match its assets" >&2
		exit 1
	}
	rm -rf "$bundle"
	mkdir -p "$bundle"
	n=0
	for platform in ${bundle_platforms:-$ERLMCP_BUNDLE_PLATFORMS}; do
		for name in "$ERLMCP_CLI" $ERLMCP_IDS; do
			asset=$(erlmcp_asset_name "$name" "${platform%/*}" "${platform#*/}")
			if [[ ! -f $assets/$asset ]]; then
				echo "dist.sh: $assets has no $asset to bundle" >&2
				exit 1
			fi
			# -n: no name or time in the header, so the same binary gives the same bytes.
			gzip -9 -n -c "$assets/$asset" >"$bundle/$asset.gz"
			n=$((n + 1))
		done
	done
	cp "$assets/$ERLMCP_SUMS" "$bundle/$ERLMCP_SUMS"
	printf '%s\n' "$version" >"$bundle/$ERLMCP_VERSION_FILE"
	echo "dist: bundled $n binaries of $version in $bundle ($(du -sk "$bundle" | cut -f1) KiB)" >&2
	exit 0
fi

if [[ $# -ne 2 || -z $1 || -z $2 ]]; then
	echo "usage: $0 OUTDIR VERSION" >&2
	exit 2
fi

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
