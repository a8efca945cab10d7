#!/usr/bin/env bash
# launch.sh: start an erlmcp-deploy binary for a GitHub Action step.
#
#   launch.sh ID [ARG...]          run the binary of action ID (deploy, smoke,
#                                  rollback, release-notes, preview) with ARGs, via exec
#   launch.sh --install erlmcp-deploy
#                                  put the CLI on PATH ($GITHUB_PATH) and write
#                                  path=<absolute path> to $GITHUB_OUTPUT
#
# Signals: on cancellation the runner signals only the process it started,
# the step's bash. action.yml runs `exec bash launch.sh ID` and this script
# ends in `exec "$bin"` (after a download or a `go build` alike), so that
# process *is* the binary by then and its SIGINT/SIGTERM handling (lock
# released, state printed, exit 130) runs. A signal during a source build
# stops the build and exits 130/143 without running anything.
#
# Which binary:
#   1. A release tree (the commit a release tag points at, and the commit its
#      pipeline pins by SHA) carries the binaries in dist/ (see BUNDLE below):
#      the one for this platform is decompressed and verified against
#      dist/SHA256SUMS. No network, no token, no Go: the runner fetched it with
#      the action itself, with the token it uses for the action (so a private
#      or internal copy of this repository works too). A mismatch is a hard
#      error.
#   2. A release tree without this platform's binary, or a ref that looks like
#      a release tag (v1, v1.2, v1.2.3, v1.2.3-rc.1): the asset for this
#      platform from the GitHub Release (the tag of dist/VERSION, else the
#      ref) in ERLMCP_ACTION_REPOSITORY, verified against the release's
#      SHA256SUMS. A floating tag without a release of its own (v1, v1.2)
#      resolves to the highest vX.Y.Z tag on the same commit (annotated tags
#      are peeled). A checksum mismatch is a hard error.
#   3. Neither found on a release (tree or ref): a hard error that says what
#      to do. A release never needs Go; ERLMCP_ALLOW_SOURCE_BUILD=true (in
#      the job's env) opts in to step 4 instead.
#   4. Any other ref (a branch, a commit SHA of a tree without dist/, an empty
#      ref for a local `uses: ./actions/ID`): `go build` from the action's own
#      source tree; needs Go on PATH.
# All are cached under
#   $RUNNER_TOOL_CACHE/erlmcp-deploy/<ref, or "local">/<os>-<arch>/
#       bundled-<sums>/<asset>                sums = hash of dist/SHA256SUMS;
#                                             verified again on every cache hit
#       release-<tree>/<asset>, SHA256SUMS    verified again on every cache hit
#       source-<key>/<asset>                  key = tree hash + version
#       .../bin/erlmcp-deploy[.exe]           the CLI as --install puts it on PATH
# <tree> is a hash of the action's source tree (go.mod, go.sum, cmd/, actions/,
# internal/), so a moved tag (v1) on a persistent self-hosted runner does not
# reuse the binaries of the previous release.
#
# ASSET NAMING CONTRACT (the only definition; scripts/dist.sh sources this file)
#   platforms: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
#   action ID: erlmcp-deploy-<ID>_<os>_<arch>[.exe]   built from ./actions/<ID>
#   CLI:       erlmcp-deploy_<os>_<arch>[.exe]        built from ./cmd/erlmcp-deploy
#   checksums: SHA256SUMS, `sha256sum` format ("<hex>  <asset>" per line)
#   .exe only on windows; every binary has main.version set by -ldflags -X.
#
# BUNDLE (written by `scripts/dist.sh --bundle`, committed by release.yml)
#   dist/VERSION            the release tag, e.g. v1.2.3 (marks a release tree)
#   dist/SHA256SUMS         the release's SHA256SUMS (of the uncompressed assets)
#   dist/<asset>.gz         gzip of an asset, for the bundled platforms only
#
# Environment:
#   ERLMCP_ACTION_REF         ${{ github.action_ref }} (empty for local actions)
#   ERLMCP_ACTION_REPOSITORY  ${{ github.action_repository }} (owner/name)
#   ERLMCP_DOWNLOAD_TOKEN     token for the release API (optional)
#   ERLMCP_ALLOW_SOURCE_BUILD true: a release without a binary for this
#                             platform is built from source (needs Go)
#   ERLMCP_RELEASE_API        API base URL; default $GITHUB_API_URL, then
#                             https://api.github.com
#   ERLMCP_CACHE_DIR          cache root; default $RUNNER_TOOL_CACHE/erlmcp-deploy,
#                             else a user cache dir, else $TMPDIR
#   RUNNER_OS, RUNNER_ARCH    platform; uname is the fallback
#
# Portable to bash 3.2 (macOS) and Git Bash (Windows): no associative arrays,
# no mapfile, no expansion of possibly empty arrays under set -u.
set -euo pipefail

# ---- contract -------------------------------------------------------------
ERLMCP_IDS="deploy smoke rollback release-notes preview"
ERLMCP_CLI=erlmcp-deploy
# shellcheck disable=SC2034 # used by scripts/dist.sh
ERLMCP_PLATFORMS="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
ERLMCP_SUMS=SHA256SUMS
ERLMCP_BUNDLE_DIR=dist
ERLMCP_VERSION_FILE=VERSION
# shellcheck disable=SC2034 # used by scripts/dist.sh
ERLMCP_BUNDLE_PLATFORMS="linux/amd64 linux/arm64"

# Refs served from GitHub Releases (bash 3.2 wants =~ patterns in variables).
release_tag_re='^v[0-9]+(\.[0-9]+(\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)?)?$'
floating_tag_re='^v[0-9]+(\.[0-9]+)?$'

# erlmcp_asset_name NAME OS ARCH: release asset name; NAME is erlmcp-deploy or an action ID.
erlmcp_asset_name() {
	local base
	if [[ $1 == "$ERLMCP_CLI" ]]; then base=$ERLMCP_CLI; else base="$ERLMCP_CLI-$1"; fi
	if [[ $2 == windows ]]; then
		printf '%s_%s_%s.exe\n' "$base" "$2" "$3"
	else
		printf '%s_%s_%s\n' "$base" "$2" "$3"
	fi
}

# erlmcp_package NAME: Go package (relative to the repository root) of a binary.
erlmcp_package() {
	if [[ $1 == "$ERLMCP_CLI" ]]; then echo "./cmd/$ERLMCP_CLI"; else echo "./actions/$1"; fi
}

# erlmcp_known NAME: true for the CLI and the action IDs.
erlmcp_known() {
	local id
	[[ $1 == "$ERLMCP_CLI" ]] && return 0
	for id in $ERLMCP_IDS; do [[ $1 == "$id" ]] && return 0; done
	return 1
}

# erlmcp_sha256_cmd: the SHA-256 command of this machine (sha256sum, else shasum).
erlmcp_sha256_cmd() {
	if command -v sha256sum >/dev/null 2>&1; then
		echo sha256sum
	elif command -v shasum >/dev/null 2>&1; then
		echo "shasum -a 256"
	else
		return 1
	fi
}

# erlmcp_sha256 [FILE]: hex SHA-256 of FILE (default: standard input).
erlmcp_sha256() {
	local cmd out
	cmd=$(erlmcp_sha256_cmd) || return 1
	# shellcheck disable=SC2086 # $cmd is a command with its arguments
	out=$($cmd ${1+"$1"}) || return 1
	out=${out%% *}
	out=${out#\\}
	printf '%s\n' "$out" | tr 'A-F' 'a-f'
}

# ---- logging --------------------------------------------------------------
# Progress goes to stderr so that a binary's stdout stays its own.
in_group=0
log() { printf '%s\n' "$*" >&2; }
group() {
	in_group=1
	printf '::group::%s\n' "$*" >&2
}
endgroup() {
	if [[ $in_group == 1 ]]; then
		in_group=0
		printf '::endgroup::\n' >&2
	fi
}
warn() { printf '::warning::erlmcp-deploy launcher: %s\n' "$*" >&2; }
die() {
	endgroup
	printf '::error::erlmcp-deploy launcher: %s\n' "$*" >&2
	exit 1
}

# ---- platform -------------------------------------------------------------
detect_os() {
	case "${RUNNER_OS:-}" in
	Linux) echo linux; return ;;
	macOS) echo darwin; return ;;
	Windows) echo windows; return ;;
	esac
	case "$(uname -s 2>/dev/null || echo unknown)" in
	Linux*) echo linux ;;
	Darwin*) echo darwin ;;
	MINGW* | MSYS* | CYGWIN* | Windows_NT*) echo windows ;;
	FreeBSD*) echo freebsd ;;
	*) die "unsupported operating system: RUNNER_OS='${RUNNER_OS:-}', uname -s='$(uname -s 2>/dev/null || true)'" ;;
	esac
}

detect_arch() {
	case "${RUNNER_ARCH:-}" in
	X64) echo amd64; return ;;
	ARM64) echo arm64; return ;;
	X86) echo 386; return ;;
	ARM) echo arm; return ;;
	esac
	case "$(uname -m 2>/dev/null || echo unknown)" in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64 | armv8*) echo arm64 ;;
	i386 | i686 | x86) echo 386 ;;
	armv6* | armv7*) echo arm ;;
	*) die "unsupported architecture: RUNNER_ARCH='${RUNNER_ARCH:-}', uname -m='$(uname -m 2>/dev/null || true)'" ;;
	esac
}

# native_path PATH: the path as the runner (and Windows programs) want it.
native_path() {
	if [[ $os == windows ]] && command -v cygpath >/dev/null 2>&1; then
		cygpath -w "$1"
	else
		printf '%s\n' "$1"
	fi
}

# ---- cache ----------------------------------------------------------------
cache_root() {
	local base
	if [[ -n ${ERLMCP_CACHE_DIR:-} ]]; then
		base=$ERLMCP_CACHE_DIR
	elif [[ -n ${RUNNER_TOOL_CACHE:-} ]]; then
		base=$RUNNER_TOOL_CACHE/erlmcp-deploy
	elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
		base=$XDG_CACHE_HOME/erlmcp-deploy
	elif [[ -n ${HOME:-} ]]; then
		base=$HOME/.cache/erlmcp-deploy
	else
		base=${TMPDIR:-/tmp}/erlmcp-deploy
	fi
	if [[ $os == windows ]] && command -v cygpath >/dev/null 2>&1; then
		base=$(cygpath -u "$base")
	fi
	printf '%s\n' "$base"
}

# safe_name S: S reduced to [A-Za-z0-9._-], usable as one path element.
safe_name() {
	local s
	s=$(printf '%s' "$1" | LC_ALL=C tr -c 'A-Za-z0-9._-' '_')
	case "$s" in .*) s="_$s" ;; esac
	printf '%s\n' "$s"
}

# tree_hash: SHA-256 over the files the binaries are built from (cksum when
# there is no SHA-256 tool: the hash is only a cache key).
tree_hash() {
	local cmd
	cmd=$(erlmcp_sha256_cmd) || cmd="cksum"
	# shellcheck disable=SC2086 # $cmd is a command with its arguments
	(
		cd "$root" || exit 1
		{
			for f in go.mod go.sum; do if [[ -f $f ]]; then echo "$f"; fi; done
			find cmd actions internal -type f ! -name '*_test.go' ! -path '*/testdata/*' 2>/dev/null || true
		} | LC_ALL=C sort | tr '\n' '\0' | xargs -0 $cmd | $cmd | cut -d' ' -f1
	)
}

# ---- release download -----------------------------------------------------
# curl_get URL OUT ACCEPT: GET URL into OUT; prints the HTTP status (000 on a
# transport error). The token goes through a config file on stdin, not argv.
curl_get() {
	local code
	code=$(
		{
			printf 'header = "Accept: %s"\n' "$3"
			printf 'header = "X-GitHub-Api-Version: 2022-11-28"\n'
			if [[ -n ${ERLMCP_DOWNLOAD_TOKEN:-} ]]; then
				printf 'header = "Authorization: Bearer %s"\n' "$ERLMCP_DOWNLOAD_TOKEN"
			fi
		} | curl -sSL --config - --connect-timeout 20 --max-time 300 \
			--retry 3 --retry-delay 2 -A erlmcp-deploy-launcher \
			-o "$2" -w '%{http_code}' "$1" 2>"$2.err"
	) || code=000
	if [[ $code == 000 && -s "$2.err" ]]; then log "$(cat "$2.err")"; fi
	rm -f "$2.err"
	printf '%s\n' "${code:-000}"
}

# json_flatten < JSON: one "path<TAB>value" line per scalar, e.g.
# "assets.0.name<TAB>SHA256SUMS" or "3.object.sha<TAB>1f0e...". Strings lose
# their quotes but keep their escapes. Tokenizing with grep -o keeps string
# contents (release notes may quote JSON) out of the structure.
json_flatten() {
	{ LC_ALL=C grep -oE '"([^"\\]|\\.)*"|[][{}:,]|[^][{}:,"[:space:]]+' || true; } | LC_ALL=C awk '
		function unq(s) { if (substr(s, 1, 1) == "\"") s = substr(s, 2, length(s) - 2); return s }
		function path(  p, i) {
			p = ""
			for (i = 1; i <= depth; i++) p = p (i > 1 ? "." : "") (type[i] == "[" ? idx[i] : key[i])
			return p
		}
		{
			t = $0
			if (t == "{" || t == "[") { depth++; type[depth] = t; key[depth] = ""; idx[depth] = 0 }
			else if (t == "}" || t == "]") depth--
			else if (t == ",") { if (type[depth] == "[") idx[depth]++ }
			else if (t != ":") {
				if (type[depth] == "{" && (prev == "{" || prev == ",")) key[depth] = unq(t)
				else print path() "\t" unq(t)
			}
			prev = t
		}'
}

# release_asset_id NAME < FLAT: id of the release asset called NAME.
release_asset_id() {
	awk -F '\t' -v want="$1" '
		$1 ~ /^assets\.[0-9]+\.name$/ && $2 == want { split($1, p, "."); i = p[2] }
		$1 ~ /^assets\.[0-9]+\.id$/ { split($1, p, "."); id[p[2]] = $2 }
		END { if (i != "" && id[i] ~ /^[0-9]+$/) print id[i] }'
}

# api_json PATH OUT: GET $api/PATH, flattened into OUT; prints the HTTP status.
api_json() {
	local code
	code=$(curl_get "$api/$1" "$2.json" application/vnd.github+json)
	if [[ $code == 200 ]]; then json_flatten <"$2.json" >"$2"; fi
	printf '%s\n' "$code"
}

# peel_tag SHA: commit an annotated tag object points at.
peel_tag() {
	[[ $(api_json "repos/$repo/git/tags/$1" "$tmp/peel") == 200 ]] || return 0
	awk -F '\t' '$1 == "object.sha" { s = $2 } $1 == "object.type" { t = $2 } END { if (t == "commit") print s }' "$tmp/peel"
}

# resolve_floating REF: the highest vX.Y.Z (no prerelease) under REF. that
# points at the commit REF points at; empty when none does.
resolve_floating() {
	local refs target tsha ttype line tag type sha peels=0
	[[ $(api_json "repos/$repo/git/matching-refs/tags/$1" "$tmp/refs") == 200 ]] || return 0
	# "T <type> <sha>" for REF itself, "C <major> <minor> <patch> <tag> <type> <sha>" for candidates.
	refs=$(awk -F '\t' -v want="$1" '
		{ split($1, p, "."); n = p[1] + 0; if (n > max) max = n }
		$1 ~ /^[0-9]+\.ref$/ { ref[n] = $2 }
		$1 ~ /^[0-9]+\.object\.sha$/ { sha[n] = $2 }
		$1 ~ /^[0-9]+\.object\.type$/ { typ[n] = $2 }
		END {
			for (i = 0; i <= max; i++) {
				tag = substr(ref[i], 11)
				if (ref[i] == "refs/tags/" want) print "T", typ[i], sha[i]
				else if (tag ~ /^v[0-9]+\.[0-9]+\.[0-9]+$/ && index(tag, want ".") == 1) {
					split(substr(tag, 2), v, ".")
					print "C", v[1], v[2], v[3], tag, typ[i], sha[i]
				}
			}
		}' "$tmp/refs")
	line=$(printf '%s\n' "$refs" | grep '^T ' || true)
	[[ -n $line ]] || return 0
	ttype=$(printf '%s\n' "$line" | cut -d' ' -f2)
	tsha=$(printf '%s\n' "$line" | cut -d' ' -f3)
	target=$tsha
	if [[ $ttype == tag ]]; then target=$(peel_tag "$tsha"); fi
	while read -r _ _ _ _ tag type sha; do
		[[ -n ${tag:-} ]] || continue
		if [[ $sha == "$tsha" || $sha == "$target" ]]; then
			echo "$tag"
			return 0
		fi
		if [[ $type == tag && $peels -lt 5 ]]; then
			peels=$((peels + 1))
			if [[ $(peel_tag "$sha") == "$target" ]]; then
				echo "$tag"
				return 0
			fi
		fi
	done <<EOF
$(printf '%s\n' "$refs" | grep '^C ' | sort -k2,2nr -k3,3nr -k4,4nr || true)
EOF
}

# sums_lookup NAME SUMSFILE: expected hex digest of NAME.
sums_lookup() {
	awk -v n="$1" '$2 == n || $2 == "*" n { print tolower($1); exit }' "$2"
}

# fetch_release TAG: download, verify and cache the release asset of TAG;
# sets $bin. Returns 1 when there is none to use (why is in $missing); dies on
# a checksum mismatch.
fetch_release() {
	local tag=$1 code exact sums_id asset_id want got dir
	repo=${ERLMCP_ACTION_REPOSITORY:-}
	if [[ -z $repo ]]; then
		missing="no ERLMCP_ACTION_REPOSITORY to look up the release $tag in"
		log "$missing"
		return 1
	fi
	if ! command -v curl >/dev/null 2>&1; then
		missing="curl not found: cannot download the release asset of $tag"
		warn "$missing"
		return 1
	fi
	if ! erlmcp_sha256 /dev/null >/dev/null 2>&1; then
		missing="neither sha256sum nor shasum found: cannot verify the release asset of $tag"
		warn "$missing"
		return 1
	fi
	dir="$cache/release-$(printf '%s' "$tree" | cut -c1-16)"
	bin="$dir/$asset"
	if [[ -f $bin && -f $dir/$ERLMCP_SUMS ]]; then
		want=$(sums_lookup "$asset" "$dir/$ERLMCP_SUMS")
		got=$(erlmcp_sha256 "$bin")
		if [[ -n $want && $want == "$got" && -x $bin ]]; then
			log "using cached release asset $asset of $ref (verified sha256 $got)"
			log "  $bin"
			return 0
		fi
		warn "cached $bin does not match its $ERLMCP_SUMS (want '${want:-none}', got $got): downloading it again"
		rm -f "$bin" "$dir/$ERLMCP_SUMS"
	fi

	api=${ERLMCP_RELEASE_API:-${GITHUB_API_URL:-https://api.github.com}}
	api=${api%/}
	# set -e does not apply here (fetch_release runs under ||): check by hand.
	mkdir -p "$dir" || return 1
	tmp=$(mktemp -d "$dir/.download.XXXXXX") || return 1
	[[ -d $tmp ]] || return 1
	# shellcheck disable=SC2064 # expand now: $tmp is reassigned later
	trap "rm -rf '$tmp'" EXIT

	code=$(api_json "repos/$repo/releases/tags/$tag" "$tmp/release")
	if [[ $code == 404 && $tag =~ $floating_tag_re ]]; then
		# A floating major/minor tag has no release: find the vX.Y.Z it points at.
		exact=$(resolve_floating "$tag")
		if [[ -n $exact ]]; then
			log "$tag points at $exact"
			tag=$exact
			code=$(api_json "repos/$repo/releases/tags/$tag" "$tmp/release")
		else
			log "no release for $tag, and no vX.Y.Z tag points where it does"
		fi
	fi
	case "$code" in
	200) ;;
	404)
		missing="no GitHub release for tag $tag in $repo (or the token cannot read it)"
		log "$missing"
		rm -rf "$tmp"
		return 1
		;;
	*)
		missing="release lookup for $tag in $repo failed (HTTP $code)"
		warn "$missing"
		rm -rf "$tmp"
		return 1
		;;
	esac

	asset_id=$(release_asset_id "$asset" <"$tmp/release")
	sums_id=$(release_asset_id "$ERLMCP_SUMS" <"$tmp/release")
	if [[ -z $asset_id ]]; then
		missing="release $tag has no asset $asset"
		log "$missing"
		rm -rf "$tmp"
		return 1
	fi
	if [[ -z $sums_id ]]; then
		missing="release $tag has no $ERLMCP_SUMS: not using its unverifiable $asset"
		warn "$missing"
		rm -rf "$tmp"
		return 1
	fi
	code=$(curl_get "$api/repos/$repo/releases/assets/$sums_id" "$tmp/$ERLMCP_SUMS" application/octet-stream)
	if [[ $code != 200 ]]; then
		missing="downloading $ERLMCP_SUMS of $tag failed (HTTP $code)"
		warn "$missing"
		rm -rf "$tmp"
		return 1
	fi
	want=$(sums_lookup "$asset" "$tmp/$ERLMCP_SUMS")
	if [[ -z $want ]]; then
		rm -rf "$tmp"
		die "$ERLMCP_SUMS of release $tag has no entry for $asset: refusing to run it"
	fi
	code=$(curl_get "$api/repos/$repo/releases/assets/$asset_id" "$tmp/$asset" application/octet-stream)
	if [[ $code != 200 ]]; then
		missing="downloading $asset of $tag failed (HTTP $code)"
		warn "$missing"
		rm -rf "$tmp"
		return 1
	fi
	got=$(erlmcp_sha256 "$tmp/$asset")
	if [[ $want != "$got" ]]; then
		rm -rf "$tmp"
		die "checksum mismatch for $asset of release $tag: $ERLMCP_SUMS says $want, downloaded file has $got; refusing to run it"
	fi
	chmod +x "$tmp/$asset" || return 1
	mv -f "$tmp/$ERLMCP_SUMS" "$dir/$ERLMCP_SUMS" || return 1
	mv -f "$tmp/$asset" "$bin" || return 1
	rm -rf "$tmp"
	trap - EXIT
	log "using release asset $asset of $tag (verified sha256 $got)"
	log "  $bin"
}

# ---- bundled binaries (a release tree) --------------------------------------
# use_bundled: decompress, verify and cache this platform's binary from
# dist/; sets $bin. Returns 1 when dist/ has none for this platform (why is in
# $missing); dies when it has one that does not match dist/SHA256SUMS.
use_bundled() {
	local sums="$bundle/$ERLMCP_SUMS" src="" want got dir tmpf
	if [[ -f $bundle/$asset.gz ]]; then
		src=$bundle/$asset.gz
	elif [[ -f $bundle/$asset ]]; then
		src=$bundle/$asset
	else
		local held
		held=$(cd "$bundle" && ls | grep -v -e "^$ERLMCP_SUMS\$" -e "^$ERLMCP_VERSION_FILE\$" | tr '\n' ' ' || true)
		missing="release $release_version bundles no $asset (dist/ holds: ${held:-no binary})"
		log "$missing"
		return 1
	fi
	if ! erlmcp_sha256 /dev/null >/dev/null 2>&1; then
		missing="neither sha256sum nor shasum found: cannot verify the bundled $asset"
		warn "$missing"
		return 1
	fi
	want=$(sums_lookup "$asset" "$sums")
	if [[ -z $want ]]; then
		die "dist/$ERLMCP_SUMS of release $release_version has no entry for $asset: refusing to run it"
	fi
	dir="$cache/bundled-$(erlmcp_sha256 "$sums" | cut -c1-16)"
	bin="$dir/$asset"
	if [[ -f $bin && -x $bin ]]; then
		got=$(erlmcp_sha256 "$bin")
		if [[ $got == "$want" ]]; then
			log "using cached bundled $asset of release $release_version (verified sha256 $got)"
			log "  $bin"
			return 0
		fi
		warn "cached $bin does not match dist/$ERLMCP_SUMS (want $want, got $got): unpacking it again"
		rm -f "$bin"
	fi
	mkdir -p "$dir"
	tmpf="$dir/.$asset.$$.tmp"
	if [[ $src == *.gz ]]; then
		if ! command -v gzip >/dev/null 2>&1; then
			missing="gzip not found: cannot unpack the bundled $asset"
			warn "$missing"
			return 1
		fi
		if ! gzip -dc "$src" >"$tmpf"; then
			rm -f "$tmpf"
			die "dist/$asset.gz of release $release_version is not a valid gzip file: refusing to run it"
		fi
	else
		cp "$src" "$tmpf"
	fi
	got=$(erlmcp_sha256 "$tmpf")
	if [[ $got != "$want" ]]; then
		rm -f "$tmpf"
		die "checksum mismatch for the bundled $asset of release $release_version: dist/$ERLMCP_SUMS says $want, ${src#"$root"/} holds $got; refusing to run it"
	fi
	chmod +x "$tmpf"
	mv -f "$tmpf" "$bin"
	log "using bundled $asset of release $release_version (verified sha256 $got; no download)"
	log "  $bin"
}

# ---- source build ---------------------------------------------------------
# cancel_build SIG: the step was cancelled while building: stop the build and
# exit as a signalled process would (130 for SIGINT, 143 for SIGTERM).
build_pid=""
cancel_build() {
	trap - INT TERM
	if [[ -n $build_pid ]]; then
		kill -TERM "$build_pid" 2>/dev/null || true
		wait "$build_pid" 2>/dev/null || true
	fi
	rm -f "${tmp:-}"
	endgroup
	printf '::error::erlmcp-deploy launcher: cancelled (SIG%s) while building %s; nothing was run\n' "$1" "$name" >&2
	if [[ $1 == INT ]]; then exit 130; fi
	exit 143
}

# build_source: build (or reuse) the binary from the action's source; sets $bin.
build_source() {
	local version key dir tmp start
	if [[ -n $ref ]]; then
		version=$ref
	else
		version=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo dev)
	fi
	version=$(printf '%s' "$version" | LC_ALL=C tr -c 'A-Za-z0-9._/+-' '_')
	key=$(printf 'tree=%s version=%s\n' "$tree" "$version" | erlmcp_sha256 | cut -c1-16)
	dir="$cache/source-$key"
	bin="$dir/$asset"
	if [[ -x $bin ]]; then
		log "using cached source build of ${ref:-the local checkout} (version $version)"
		log "  $bin"
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		die "building $name from source at ref '${ref:-<local>}' needs Go, and go is not on PATH. Add a step 'uses: actions/setup-go' (Go >= the version in the action's go.mod) before this one, or use a release tag of the action (@vX.Y.Z), which ships prebuilt binaries."
	fi
	log "building $name from source at ref '${ref:-<local>}' (version $version, $(go env GOVERSION 2>/dev/null || echo go))"
	mkdir -p "$dir"
	tmp="$dir/.$asset.$$.tmp"
	start=$(date +%s)
	# The build runs as a background job that this shell waits for: `wait`
	# returns on a signal (a foreground command would delay the trap until
	# it ends), so a step cancelled during the build stops the build too.
	local pkg status=0
	pkg=$(erlmcp_package "$name")
	(
		cd "$root" || exit 1
		export CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOWORK=off
		exec go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$tmp" "$pkg" >&2
	) &
	build_pid=$!
	trap 'cancel_build INT' INT
	trap 'cancel_build TERM' TERM
	wait "$build_pid" || status=$?
	trap - INT TERM
	build_pid=""
	if [[ $status != 0 ]]; then
		rm -f "$tmp"
		die "go build of $pkg failed (see above)"
	fi
	mv -f "$tmp" "$bin"
	log "built in $(($(date +%s) - start))s: $bin"
}

# ---- main -----------------------------------------------------------------
main() {
	local install=0
	if [[ ${1:-} == --install ]]; then
		install=1
		shift
	fi
	name=${1:-}
	if [[ -z $name ]] || ! erlmcp_known "$name"; then
		die "usage: launch.sh {$(echo "$ERLMCP_IDS" | tr ' ' '|')} [ARG...] | launch.sh --install $ERLMCP_CLI (got '${name}')"
	fi
	if [[ $install == 1 && $name != "$ERLMCP_CLI" ]]; then
		die "--install only installs $ERLMCP_CLI, not '$name'"
	fi
	shift

	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	os=$(detect_os)
	arch=$(detect_arch)
	asset=$(erlmcp_asset_name "$name" "$os" "$arch")
	ref=${ERLMCP_ACTION_REF:-}
	local refdir
	if [[ -n $ref ]]; then refdir=$(safe_name "$ref"); else refdir=local; fi
	cache="$(cache_root)/$refdir/$os-$arch"
	tree=$(tree_hash)

	group "erlmcp-deploy launcher: $name for $os/$arch at ref '${ref:-<local>}'"
	bin=""
	missing=""
	bundle="$root/$ERLMCP_BUNDLE_DIR"
	release_version=""
	if [[ -f $bundle/$ERLMCP_VERSION_FILE && -f $bundle/$ERLMCP_SUMS ]]; then
		release_version=$(head -n 1 "$bundle/$ERLMCP_VERSION_FILE" | tr -d '\r[:space:]')
		[[ -n $release_version ]] || release_version=unknown
	fi
	local release=""
	if [[ -n $release_version ]]; then
		release=$release_version
		log "the action's tree is release $release_version (dist/$ERLMCP_VERSION_FILE): looking for its bundled $asset"
		use_bundled || bin=""
		if [[ -z $bin && $release_version =~ $release_tag_re ]]; then
			fetch_release "$release_version" || bin=""
		fi
	elif [[ $ref =~ $release_tag_re ]]; then
		release=$ref
		log "ref $ref looks like a release tag: looking for release asset $asset"
		fetch_release "$ref" || bin=""
	elif [[ -z $ref ]]; then
		log "no action ref (local action): building from source"
	else
		log "ref $ref is not a release tag: building from source"
	fi
	if [[ -z $bin || ! -f $bin ]]; then
		if [[ -n $release ]]; then
			case "${ERLMCP_ALLOW_SOURCE_BUILD:-}" in
			true | TRUE | True | 1 | yes)
				log "no prebuilt $asset for release $release ($missing); ERLMCP_ALLOW_SOURCE_BUILD=${ERLMCP_ALLOW_SOURCE_BUILD}: building from source"
				;;
			*)
				die "no prebuilt $asset for $os/$arch in release $release at ref '${ref:-<local>}': ${missing:-not found}. A release never builds from source (it would need Go on the runner). Use a runner whose platform the release bundles in dist/ (Linux amd64/arm64), let the release download work (ERLMCP_DOWNLOAD_TOKEN reads this repository's releases: the job's github.token can read a public repository's; a private or internal copy bundles its binaries in dist/ when its release.yml releases it), or set ERLMCP_ALLOW_SOURCE_BUILD=true in the job's env with actions/setup-go before this step."
				;;
			esac
		fi
		build_source
	fi

	if [[ $install == 1 ]]; then
		local exe=$ERLMCP_CLI bindir target
		if [[ $os == windows ]]; then exe=$exe.exe; fi
		bindir="$(dirname "$bin")/bin"
		target="$bindir/$exe"
		mkdir -p "$bindir"
		if [[ ! -f $target ]] || [[ $(erlmcp_sha256 "$target" 2>/dev/null || true) != "$(erlmcp_sha256 "$bin" 2>/dev/null || echo x)" ]]; then
			cp "$bin" "$target.$$.tmp"
			chmod +x "$target.$$.tmp"
			mv -f "$target.$$.tmp" "$target"
		fi
		target=$(native_path "$target")
		bindir=$(native_path "$bindir")
		log "installed $target"
		endgroup
		if [[ -n ${GITHUB_PATH:-} ]]; then printf '%s\n' "$bindir" >>"$GITHUB_PATH"; fi
		if [[ -n ${GITHUB_OUTPUT:-} ]]; then printf 'path=%s\n' "$target" >>"$GITHUB_OUTPUT"; fi
		printf '%s\n' "$target"
		return 0
	fi
	endgroup
	exec "$bin" ${1+"$@"}
}

# Sourced (by scripts/dist.sh): define the contract only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
