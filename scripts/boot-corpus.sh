#!/usr/bin/env bash
# boot-corpus.sh: regenerate the real part of internal/bootcause's corpus by
# running a real Erlang/OTP (and Elixir) on small applications that fail to
# boot each way, capturing stdout and stderr as one stream as a container log
# shows them (no tty, -noshell -noinput, as a release's `foreground`).
#
# Needs Debian bookworm's packages (OTP 25, Elixir 1.14), and root for the
# permission cases (they run as nobody through setpriv):
#
#   apt-get install erlang-base erlang-dev erlang-inets elixir
#
# Writes internal/bootcause/testdata/corpus/<class>/<case>.log and .want (the
# class, detail and permanence the classifier must give, and how the case was
# made); the public/ part (quotes from bug reports) is left alone. `make test`
# does not run this: the output is committed.
#
#   BOOT_CORPUS_WORK=/tmp/erlmcp-boot-corpus  where the applications are built;
#                                             a fixed path, so paths in the logs
#                                             stay the same from run to run
#   BOOT_CORPUS_EPMD_PORT=43690               a private epmd for the node cases
#                                             (the system's epmd is not touched)
#
# Network: only loopback (127.0.0.1) and names under .invalid (RFC 6761, never
# resolve) are contacted.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/internal/bootcause/testdata/corpus
work=${BOOT_CORPUS_WORK:-/tmp/erlmcp-boot-corpus}
epmd_port=${BOOT_CORPUS_EPMD_PORT:-43690}

if [[ $(id -u) -ne 0 ]]; then
	echo "boot-corpus: run as root: the permission cases drop to nobody with setpriv" >&2
	exit 1
fi
missing=()
for tool in erl erlc epmd mix elixir setpriv timeout; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
	# Debian's OTP 25 and Elixir, installed by this script as the guide says.
	echo "boot-corpus: ${missing[*]} not found: installing Debian's erlang-base erlang-dev erlang-inets elixir" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq erlang-base erlang-dev erlang-inets elixir >&2
fi
for tool in erl erlc epmd mix elixir setpriv timeout; do
	command -v "$tool" >/dev/null || {
		echo "boot-corpus: $tool still not found (apt-get install erlang-base erlang-dev erlang-inets elixir)" >&2
		exit 1
	}
done
otp=$(erl -noshell -noinput -eval 'io:put_chars(erlang:system_info(otp_release)), halt().')
if [[ $otp != 25 ]]; then
	echo "boot-corpus: OTP $otp, the committed corpus is OTP 25's (Debian bookworm); continuing" >&2
fi

# Background processes this script starts, stopped by pid on exit.
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
stage=$work/corpus
mkdir -p "$stage"

kernel_vsn=$(basename /usr/lib/erlang/lib/kernel-* | cut -d- -f2)
stdlib_vsn=$(basename /usr/lib/erlang/lib/stdlib-* | cut -d- -f2)
inets_vsn=$(basename /usr/lib/erlang/lib/inets-* | cut -d- -f2)
erts_vsn=$(erl -noshell -noinput -eval 'io:put_chars(erlang:system_info(version)), halt().')
host=$(erl -noshell -noinput -eval '{ok, H} = inet:gethostname(), io:put_chars(H), halt().')

# --- helpers -----------------------------------------------------------------

# newcase CLASS CASE: a fresh directory for one case; sets $dir.
newcase() {
	dir=$work/$1/$2
	mkdir -p "$dir/ebin" "$dir/src"
	chmod 755 "$work/$1" "$dir" "$dir/ebin" "$dir/src"
}

# app [APPS]: compile $dir/src/*.erl and write myapp.app (mod myapp_app) and
# start.boot (kernel, stdlib, APPS..., myapp) with systools, as a release would.
app() {
	local apps=${1:-}
	local mods deps rel_apps
	mods=$(cd "$dir/src" && ls -- *.erl | sed 's/\.erl$//' | paste -sd, -)
	deps=kernel,stdlib${apps:+,$apps}
	rel_apps="{kernel,\"$kernel_vsn\"},{stdlib,\"$stdlib_vsn\"}"
	[[ $apps == *inets* ]] && rel_apps+=",{inets,\"$inets_vsn\"}"
	erlc -o "$dir/ebin" "$dir"/src/*.erl
	printf '{application,myapp,[{description,"boot corpus"},{vsn,"0.1.0"},{modules,[%s]},{registered,[]},{applications,[%s]},{mod,{%s,[]}}]}.\n' \
		"$mods" "$deps" "${app_mod:-myapp_app}" >"$dir/ebin/myapp.app"
	printf '{release,{"myapp","0.1.0"},{erts,"%s"},[%s,{myapp,"0.1.0"}]}.\n' "$erts_vsn" "$rel_apps" >"$dir/start.rel"
	(cd "$dir" && erl -noshell -noinput -eval \
		'case systools:make_script("start", [local, silent, {path, ["ebin"]}]) of
		     {ok, _, _} -> halt(0); ok -> halt(0); E -> io:format("~p~n", [E]), halt(1) end.')
	echo '[].' >"$dir/sys.config"
}

# start_body BODY [EXTRA_EXPORTS]: myapp_app with start/2 = BODY.
start_body() {
	cat >"$dir/src/myapp_app.erl" <<EOF
-module(myapp_app).
-behaviour(application).
-export([start/2, stop/1]).

start(_Type, _Args) ->
$1

stop(_State) -> ok.
EOF
	cat >"$dir/src/myapp_sup.erl" <<'EOF'
-module(myapp_sup).
-behaviour(supervisor).
-export([start_link/0, start_link/1, init/1]).

start_link() -> start_link([]).
start_link(Children) -> supervisor:start_link({local, ?MODULE}, ?MODULE, Children).

init(Children) -> {ok, {#{strategy => one_for_one}, Children}}.
EOF
}

# run CLASS CASE [VAR=VALUE...] -- CMD...: run CMD in $dir with a clean
# environment, stdout and stderr into the case's log.
run() {
	local class=$1 name=$2
	shift 2
	local -a envs=()
	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	mkdir -p "$stage/$class"
	(cd "$dir" && env -i PATH="$PATH" HOME="$dir" LANG=C.UTF-8 TERM=dumb \
		ERL_CRASH_DUMP=erl_crash.dump ERL_EPMD_PORT="$epmd_port" "${envs[@]}" \
		timeout -s TERM "${run_timeout:-30}" "$@") \
		>"$stage/$class/$name.log" 2>&1 </dev/null || true
	echo "  $class/$name: $(wc -l <"$stage/$class/$name.log") lines"
}

# want CLASS CASE WANT_CLASS DETAIL PERMANENT HOW: the expected cause.
want() {
	{
		echo "class: $3"
		echo "detail: $4"
		echo "permanent: $5"
		echo "how: $6"
	} >"$stage/$1/$2.want"
}

# boot: the command a release's foreground runs, roughly.
boot=(erl -noshell -noinput -boot ./start -config ./sys.config)

# free_port: a loopback port nobody listens on (bound, read, closed).
free_port() {
	erl -noshell -noinput -eval \
		'{ok, L} = gen_tcp:listen(0, [{ip, {127,0,0,1}}]), {ok, P} = inet:port(L),
		 gen_tcp:close(L), io:put_chars(integer_to_list(P)), halt().'
}

# hold_port: start a listener on a loopback port, in this shell so that its
# pid is stopped on exit; sets $held to the port.
hold_port() {
	local f=$work/held
	erl -noshell -noinput -eval "{ok, L} = gen_tcp:listen(0, [{ip, {127,0,0,1}}, {reuseaddr, false}]),
		{ok, P} = inet:port(L), ok = file:write_file(\"$f\", integer_to_list(P)), timer:sleep(infinity)." \
		</dev/null >/dev/null 2>&1 &
	pids+=($!)
	local i
	for i in $(seq 100); do
		[[ -s $f ]] && break
		sleep 0.1
	done
	held=$(cat "$f")
}

echo "boot-corpus: OTP $otp (erts $erts_vsn) on $host, building in $work"

hold_port
closed=$(free_port)
# Every node below registers with this epmd, never the system's.
export ERL_EPMD_PORT=$epmd_port
epmd -port "$epmd_port" </dev/null >/dev/null 2>&1 &
pids+=($!)
sleep 0.5

# --- missing-env -----------------------------------------------------------
echo "missing-env"

getenv_start='    case os:getenv("DATABASE_URL") of
        false -> exit({missing_env, "DATABASE_URL"});
        Url -> io:format("myapp: started, database ~s~n", [Url]), myapp_sup:start_link()
    end.'

newcase missing-env exit-tuple
start_body "$getenv_start"
app
run missing-env exit-tuple -- "${boot[@]}"
want missing-env exit-tuple missing-env DATABASE_URL true \
	'start/2 exits {missing_env,"DATABASE_URL"}; release boot script'
run missing-env exit-tuple-healthy DATABASE_URL=postgres://db.example/app -- "${boot[@]}" -s init stop
want missing-env exit-tuple-healthy "" "" false 'twin: DATABASE_URL set, starts and stops cleanly'

newcase missing-env error-binary
start_body '    case os:getenv("SECRET_KEY_BASE") of
        false -> erlang:error(<<"environment variable SECRET_KEY_BASE is missing.">>);
        _ -> myapp_sup:start_link()
    end.'
app
run missing-env error-binary -- "${boot[@]}"
want missing-env error-binary missing-env SECRET_KEY_BASE true \
	'start/2 raises an Elixir-style message as a binary'

newcase missing-env exit-charlist
start_body '    case os:getenv("REDIS_URL") of
        false -> exit("environment variable REDIS_URL is missing");
        _ -> myapp_sup:start_link()
    end.'
app
run missing-env exit-charlist -- "${boot[@]}"
want missing-env exit-charlist missing-env REDIS_URL true 'start/2 exits with a char list message'

newcase missing-env do-boot-binary
cat >"$dir/src/myapp_cli.erl" <<'EOF'
-module(myapp_cli).
-export([main/0]).

main() ->
    case os:getenv("MCP_TOKEN") of
        false -> erlang:error({config, <<"environment variable MCP_TOKEN is missing.">>});
        _ -> io:format("myapp: token set~n")
    end.
EOF
erlc -o "$dir/ebin" "$dir/src/myapp_cli.erl"
run missing-env do-boot-binary -- erl -noshell -noinput -pa ebin -s myapp_cli main -s init stop
want missing-env do-boot-binary missing-env MCP_TOKEN true \
	'-s myapp_cli main raises {config,<<"environment variable MCP_TOKEN is missing.">>} in do_boot'

newcase missing-env do-boot-deep
cat >"$dir/src/myapp_cli.erl" <<'EOF'
-module(myapp_cli).
-export([main/0]).

main() ->
    case os:getenv("DATABASE_URL") of
        false -> exit({config_error, {loading, {section, {database, {url, {missing_env, "DATABASE_URL"}}}}}});
        _ -> ok
    end.
EOF
erlc -o "$dir/ebin" "$dir/src/myapp_cli.erl"
run missing-env do-boot-deep -- erl -noshell -noinput -pa ebin -s myapp_cli main -s init stop
want missing-env do-boot-deep missing-env DATABASE_URL true \
	'a reason nested deeper than the halt string prints ({_}): only the first, full line names it'

newcase missing-env logfmt
start_body "$getenv_start"
app
cat >"$dir/sys.config" <<'EOF'
[{kernel, [{logger, [{handler, default, logger_std_h,
   #{formatter => {logger_formatter, #{single_line => true,
       template => [time, " level=", level, " msg=\"", msg, "\"\n"]}}}}]}]}].
EOF
run missing-env logfmt -- "${boot[@]}"
want missing-env logfmt missing-env DATABASE_URL true \
	'the exit-tuple app with a logfmt-like logger_formatter template in sys.config'

newcase missing-env json
start_body "$getenv_start"
cat >"$dir/src/myapp_json.erl" <<'EOF'
-module(myapp_json).
-export([format/2]).

%% One JSON object a line, as JSON logger formatters write them.
format(#{level := Level, meta := Meta} = Event, _Config) ->
    Msg = logger_formatter:format(Event, #{single_line => true, template => [msg]}),
    Time = calendar:system_time_to_rfc3339(maps:get(time, Meta), [{unit, microsecond}]),
    ["{\"time\":\"", Time, "\",\"level\":\"", atom_to_list(Level), "\",\"msg\":", string(Msg), "}\n"].

string(IoData) ->
    [$", [escape(C) || C <- unicode:characters_to_list(IoData)], $"].

escape($") -> "\\\"";
escape($\\) -> "\\\\";
escape($\n) -> "\\n";
escape(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
escape(C) -> unicode:characters_to_binary([C]).
EOF
app
cat >"$dir/sys.config" <<'EOF'
[{kernel, [{logger, [{handler, default, logger_std_h, #{formatter => {myapp_json, #{}}}}]}]}].
EOF
run missing-env json -- "${boot[@]}"
want missing-env json missing-env DATABASE_URL true \
	'the exit-tuple app with a JSON logger formatter (one object a line, msg field)'
run missing-env json-healthy DATABASE_URL=postgres://db.example/app -- "${boot[@]}" -s init stop
want missing-env json-healthy "" "" false 'twin: the JSON-logging app with DATABASE_URL set'

# --- config-syntax ---------------------------------------------------------
echo "config-syntax"

newcase config-syntax sys-config-no-dot
start_body '    io:format("myapp: started~n"), myapp_sup:start_link().'
app
printf '[{kernel, [{logger_level, info}]}]\n' >"$dir/sys.config"
run config-syntax sys-config-no-dot -- "${boot[@]}"
want config-syntax sys-config-no-dot config-syntax './sys.config: no ending <dot> found' true \
	'sys.config without its final dot'
echo '[{kernel, [{logger_level, notice}]}].' >"$dir/sys.config"
run config-syntax sys-config-healthy -- "${boot[@]}" -s init stop
want config-syntax sys-config-healthy "" "" false 'twin: the same release with a valid sys.config'

newcase config-syntax sys-config-syntax
start_body '    myapp_sup:start_link().'
app
printf '[{kernel, [{logger_level, info}]},\n {myapp, [{port, 8080}}].\n' >"$dir/sys.config"
run config-syntax sys-config-syntax -- "${boot[@]}"
want config-syntax sys-config-syntax config-syntax "./sys.config:2: syntax error before: '}'" true \
	'a bracket too many on line 2 of sys.config'

newcase config-syntax sys-config-two-terms
start_body '    myapp_sup:start_link().'
app
printf '[{kernel, [{logger_level, info}]}].\n[{myapp, [{port, 8080}]}].\n' >"$dir/sys.config"
run config-syntax sys-config-two-terms -- "${boot[@]}"
want config-syntax sys-config-two-terms config-syntax \
	'./sys.config: configuration file must contain ONE list ended by <dot>' true 'two terms in sys.config'

newcase config-syntax sys-config-missing
start_body '    myapp_sup:start_link().'
app
run config-syntax sys-config-missing -- erl -noshell -noinput -boot ./start -config ./releases/0.1.0/sys.config
want config-syntax sys-config-missing config-syntax \
	'./releases/0.1.0/sys.config: configuration file not found' true '-config names a file that is not there'

newcase config-syntax vm-args-bad-flag
start_body '    myapp_sup:start_link().'
app
printf -- '-sname myapp\n+P abc\n' >"$dir/vm.args"
run config-syntax vm-args-bad-flag -- "${boot[@]}" -args_file ./vm.args
want config-syntax vm-args-bad-flag config-syntax 'vm.args: bad number of processes abc' true \
	'vm.args sets +P abc; the emulator prints its usage'

newcase config-syntax vm-args-missing-include
start_body '    myapp_sup:start_link().'
app
printf -- '-args_file ./extra.args\n' >"$dir/vm.args"
run config-syntax vm-args-missing-include -- "${boot[@]}" -args_file ./vm.args
want config-syntax vm-args-missing-include config-syntax './extra.args: No such file or directory' true \
	'vm.args includes an -args_file that is not there'

# --- undef -----------------------------------------------------------------
echo "undef"

newcase undef start-undef
start_body '    {ok, _Conn} = myapp_db:connect(os:getenv("DATABASE_URL", "postgres://db/app")),
    myapp_sup:start_link().'
app
run undef start-undef -- "${boot[@]}"
want undef start-undef undef myapp_db:connect/1 true 'start/2 calls a module left out of the release'
cat >"$dir/src/myapp_db.erl" <<'EOF'
-module(myapp_db).
-export([connect/1]).

connect(Url) -> io:format("myapp: database ~s~n", [Url]), {ok, Url}.
EOF
app
run undef start-undef-healthy -- "${boot[@]}" -s init stop
want undef start-undef-healthy "" "" false 'twin: the module is in the release'

newcase undef do-boot-s
run undef do-boot-s -- erl -noshell -noinput -pa ebin -s myapp_cli
want undef do-boot-s undef myapp_cli:start/0 true '-s names a module that is not there'

newcase undef app-mod-missing
start_body '    myapp_sup:start_link().'
app_mod=myapp_application app
run undef app-mod-missing -- "${boot[@]}"
want undef app-mod-missing undef myapp_application:start/2 true "the .app's mod names a module that is not there"

# --- port-in-use -----------------------------------------------------------
echo "port-in-use (port $held held)"

listen_start='    Port = list_to_integer(os:getenv("PORT", "8080")),
    {ok, _Listen} = gen_tcp:listen(Port, [{ip, {127,0,0,1}}]),
    io:format("myapp: listening on ~p~n", [Port]),
    myapp_sup:start_link().'

newcase port-in-use start-listen
start_body "$listen_start"
app
run port-in-use start-listen PORT="$held" -- "${boot[@]}"
want port-in-use start-listen port-in-use myapp_app:start/2 false \
	'start/2 listens on a port another process holds: {badmatch,{error,eaddrinuse}}'
run port-in-use start-listen-healthy PORT="$closed" -- "${boot[@]}" -s init stop
want port-in-use start-listen-healthy "" "" false 'twin: the port is free'

newcase port-in-use child-listener
start_body '    myapp_sup:start_link([#{id => myapp_http, start => {myapp_http, start_link, []}}]).'
cat >"$dir/src/myapp_http.erl" <<'EOF'
-module(myapp_http).
-behaviour(gen_server).
-export([start_link/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

init([]) ->
    Port = list_to_integer(os:getenv("PORT", "8080")),
    {ok, Listen} = gen_tcp:listen(Port, [{ip, {127,0,0,1}}]),
    {ok, Listen}.

handle_call(_, _, S) -> {reply, ok, S}.
handle_cast(_, S) -> {noreply, S}.
EOF
app
run port-in-use child-listener PORT="$held" -- "${boot[@]}"
want port-in-use child-listener port-in-use myapp_http false \
	'a supervised listener fails to start: {shutdown,{failed_to_start_child,myapp_http,…eaddrinuse…}}'

newcase port-in-use distribution
run port-in-use distribution -- erl -noshell -noinput -sname myapp \
	-kernel inet_dist_listen_min "$held" inet_dist_listen_max "$held" -s init stop
want port-in-use distribution port-in-use 'distribution (inet_tcp)' false \
	'the distribution listener is pinned (inet_dist_listen_min/max) to a port another process holds'

# --- permission ------------------------------------------------------------
echo "permission"
nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

newcase permission dets
start_body '    {ok, state} = dets:open_file(state, [{file, "data/state.dets"}]),
    io:format("myapp: state open~n"),
    myapp_sup:start_link().'
app
mkdir -p "$dir/data"
chmod 755 "$dir/data"
run permission dets -- "${nobody[@]}" "${boot[@]}"
want permission dets permission data/state.dets true \
	'runs as nobody; dets:open_file in a root-owned data/ → {file_error,"data/state.dets",eacces}'
chown nobody "$dir/data"
run permission dets-healthy -- "${nobody[@]}" "${boot[@]}" -s init stop
want permission dets-healthy "" "" false 'twin: data/ belongs to the user'

newcase permission logger-file
start_body '    myapp_sup:start_link().'
app
mkdir -p "$dir/log"
chmod 755 "$dir/log"
cat >"$dir/sys.config" <<'EOF'
[{kernel, [{logger, [{handler, default, logger_std_h, #{config => #{file => "log/erlang.log"}}}]}]}].
EOF
run permission logger-file -- "${nobody[@]}" "${boot[@]}"
want permission logger-file permission "$dir/log/erlang.log" true \
	'runs as nobody; the logger file handler in sys.config cannot open log/erlang.log'

newcase permission cookie
start_body '    myapp_sup:start_link().'
app
run permission cookie HOME=/ -- "${nobody[@]}" "${boot[@]}" -sname myapp
want permission cookie permission /.erlang.cookie true \
	'runs as nobody with HOME=/ and -sname: the cookie file cannot be created'

newcase permission file-open
start_body '    {ok, _Log} = file:open("data/audit.log", [append]),
    myapp_sup:start_link().'
app
mkdir -p "$dir/data"
chmod 755 "$dir/data"
run permission file-open -- "${nobody[@]}" "${boot[@]}"
want permission file-open permission myapp_app:start/2 true \
	'runs as nobody; file:open for append in a root-owned data/ → {badmatch,{error,eacces}} (no path in the reason)'

newcase permission eisdir
start_body '    {ok, _Key} = file:read_file("priv/license.key"),
    myapp_sup:start_link().'
app
mkdir -p "$dir/priv/license.key"
run permission eisdir -- "${boot[@]}"
want permission eisdir permission myapp_app:start/2 true \
	'priv/license.key is a directory (a volume mounted over a file) → {badmatch,{error,eisdir}}'

# --- dns -------------------------------------------------------------------
echo "dns"

newcase dns httpc
start_body '    {ok, _} = httpc:request(os:getenv("STATUS_URL", "http://registry.invalid:8500/v1/status/leader")),
    myapp_sup:start_link().'
app inets
run dns httpc -- "${boot[@]}"
want dns httpc dns registry.invalid:8500 false \
	'httpc:request to a host under .invalid → {failed_connect,[{to_address,{Host,Port}},{inet,[inet],nxdomain}]}'

tcp_start='    Host = os:getenv("DB_HOST", "db"),
    Port = list_to_integer(os:getenv("DB_PORT", "5432")),
    {ok, Sock} = gen_tcp:connect(Host, Port, [], 2000),
    io:format("myapp: connected to ~s:~p~n", [Host, Port]),
    gen_tcp:close(Sock),
    myapp_sup:start_link().'

newcase dns gen-tcp
start_body "$tcp_start"
app
run dns gen-tcp DB_HOST=postgres.invalid -- "${boot[@]}"
want dns gen-tcp dns myapp_app:start/2 false \
	'gen_tcp:connect to a host under .invalid → {badmatch,{error,nxdomain}} (no host in the reason)'
run dns gen-tcp-healthy DB_HOST=localhost DB_PORT="$held" -- "${boot[@]}" -s init stop
want dns gen-tcp-healthy "" "" false 'twin: DB_HOST resolves and listens'

# --- dependency-unreachable ------------------------------------------------
echo "dependency-unreachable (port $closed closed)"

newcase dependency-unreachable gen-tcp
start_body "$tcp_start"
app
run dependency-unreachable gen-tcp DB_HOST=127.0.0.1 DB_PORT="$closed" -- "${boot[@]}"
want dependency-unreachable gen-tcp dependency-unreachable myapp_app:start/2 false \
	'gen_tcp:connect to a closed loopback port → {badmatch,{error,econnrefused}}'
run dependency-unreachable gen-tcp-healthy DB_HOST=127.0.0.1 DB_PORT="$held" -- "${boot[@]}" -s init stop
want dependency-unreachable gen-tcp-healthy "" "" false 'twin: the port listens'

newcase dependency-unreachable httpc
start_body '    {ok, _} = httpc:request(os:getenv("STATUS_URL")),
    myapp_sup:start_link().'
app inets
run dependency-unreachable httpc STATUS_URL="http://127.0.0.1:$closed/health" -- "${boot[@]}"
want dependency-unreachable httpc dependency-unreachable "127.0.0.1:$closed" false \
	'httpc:request to a closed loopback port → {failed_connect,[{to_address,{"127.0.0.1",Port}},{inet,[inet],econnrefused}]}'

newcase dependency-unreachable child-connect
start_body '    myapp_sup:start_link([#{id => myapp_db, start => {myapp_db, start_link, []}}]).'
cat >"$dir/src/myapp_db.erl" <<'EOF'
-module(myapp_db).
-behaviour(gen_server).
-export([start_link/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

init([]) ->
    Port = list_to_integer(os:getenv("DB_PORT", "5432")),
    case gen_tcp:connect("127.0.0.1", Port, [], 2000) of
        {ok, Sock} -> {ok, Sock};
        {error, Reason} -> {stop, Reason}
    end.

handle_call(_, _, S) -> {reply, ok, S}.
handle_cast(_, S) -> {noreply, S}.
EOF
app
run dependency-unreachable child-connect DB_PORT="$closed" -- "${boot[@]}"
want dependency-unreachable child-connect dependency-unreachable myapp_db false \
	'a supervised client whose init stops with econnrefused: {shutdown,{failed_to_start_child,myapp_db,econnrefused}}'

# --- node-name -------------------------------------------------------------
echo "node-name"

newcase node-name long-name-space
start_body '    io:format("myapp: started on ~p~n", [node()]), myapp_sup:start_link().'
app
run node-name long-name-space -- "${boot[@]}" -name 'bad name'
want node-name long-name-space node-name 'bad name' true '-name with a space in it'
run node-name sname-healthy -- "${boot[@]}" -sname myapp -s init stop
want node-name sname-healthy "" "" false 'twin: a valid -sname with epmd running'

newcase node-name sname-two-at
run node-name sname-two-at -- erl -noshell -noinput -sname myapp@db@x -s init stop
want node-name sname-two-at node-name myapp@db@x true '-sname with two @'

newcase node-name long-name-no-domain
run node-name long-name-no-domain -- erl -noshell -noinput -name myapp -s init stop
if grep -q "Can't set long node name" "$stage/node-name/long-name-no-domain.log"; then
	want node-name long-name-no-domain node-name myapp false \
		"-name without a host on a machine whose host name has no domain ($host)"
else
	echo "  (host $host has a domain: -name myapp started; case dropped)"
	rm -f "$stage/node-name/long-name-no-domain.log"
fi

newcase node-name name-in-use
erl -noshell -noinput -sname myapp_twin -eval 'timer:sleep(15000), init:stop().' </dev/null >/dev/null 2>&1 &
pids+=($!)
sleep 2
run node-name name-in-use -- erl -noshell -noinput -sname myapp_twin -s init stop
want node-name name-in-use node-name "myapp_twin@$host" false 'another node registered the same name in epmd'

newcase node-name epmd-unreachable
run node-name epmd-unreachable ERL_EPMD_PORT="$closed" -- erl -noshell -noinput -sname myapp -start_epmd false -s init stop
want node-name epmd-unreachable node-name 'epmd (econnrefused)' false '-start_epmd false and no epmd listening'

# --- start-crash -----------------------------------------------------------
echo "start-crash"

newcase start-crash error-return
start_body '    case os:getenv("LICENSE") of
        false -> {error, license_expired};
        _ -> io:format("myapp: licensed~n"), myapp_sup:start_link()
    end.'
app
run start-crash error-return -- "${boot[@]}"
want start-crash error-return start-crash 'myapp: license_expired' false 'start/2 returns {error,license_expired}'
run start-crash error-return-healthy LICENSE=ok -- "${boot[@]}" -s init stop
want start-crash error-return-healthy "" "" false 'twin: start/2 returns {ok,Pid}'

newcase start-crash child-stop
start_body '    myapp_sup:start_link([#{id => myapp_cache, start => {myapp_cache, start_link, []}}]).'
cat >"$dir/src/myapp_cache.erl" <<'EOF'
-module(myapp_cache).
-behaviour(gen_server).
-export([start_link/0, init/1, handle_call/3, handle_cast/2]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

init([]) -> {stop, {warmup_failed, 3}}.

handle_call(_, _, S) -> {reply, ok, S}.
handle_cast(_, S) -> {noreply, S}.
EOF
app
run start-crash child-stop -- "${boot[@]}"
want start-crash child-stop start-crash 'myapp: myapp_cache: {warmup_failed,3}' false \
	'a supervised child whose init returns {stop,{warmup_failed,3}}'

newcase start-crash bad-return
start_body '    ok.'
app
run start-crash bad-return -- "${boot[@]}"
want start-crash bad-return start-crash 'myapp: bad return ok' false 'start/2 returns ok instead of {ok,Pid}'

newcase start-crash function-clause
start_body '    Pool = myapp_config:pool_size(os:getenv("POOL_SIZE", "ten")),
    io:format("myapp: pool ~p~n", [Pool]),
    myapp_sup:start_link().'
cat >"$dir/src/myapp_config.erl" <<'EOF'
-module(myapp_config).
-export([pool_size/1]).

pool_size([D | _] = S) when D >= $0, D =< $9 -> list_to_integer(S).
EOF
app
run start-crash function-clause -- "${boot[@]}"
want start-crash function-clause start-crash 'myapp: function_clause in myapp_config:pool_size/1' false \
	'start/2 crashes with function_clause in a helper'

# --- crash-unknown ---------------------------------------------------------
echo "crash-unknown"

newcase crash-unknown halt-string
start_body '    erlang:halt("fatal: license server said no").'
app
run crash-unknown halt-string -- "${boot[@]}"
want crash-unknown halt-string crash-unknown 'fatal: license server said no' false \
	'start/2 calls erlang:halt/1 with a message'

newcase crash-unknown do-boot-unknown
cat >"$dir/src/myapp_cli.erl" <<'EOF'
-module(myapp_cli).
-export([main/0]).

main() -> exit({unexpected_state, 42}).
EOF
erlc -o "$dir/ebin" "$dir/src/myapp_cli.erl"
run crash-unknown do-boot-unknown -- erl -noshell -noinput -pa ebin -s myapp_cli main
want crash-unknown do-boot-unknown crash-unknown '{unexpected_state,42}' false 'an unclassifiable reason in do_boot'

newcase crash-unknown panic-exit
run crash-unknown panic-exit -- erl -noshell -noinput -eval 'io:format("myapp: booting~n"), io:format("panic: state table corrupt~n"), halt(3).'
want crash-unknown panic-exit crash-unknown 'panic: state table corrupt' false 'prints a line and halts with status 3'

newcase crash-unknown sigterm-healthy
start_body '    io:format("myapp: started~n"), myapp_sup:start_link().'
app
run_timeout=2 run crash-unknown sigterm-healthy -- "${boot[@]}"
want crash-unknown sigterm-healthy "" "" false 'twin: a running release stopped by SIGTERM (as kubelet does)'

# --- Elixir ----------------------------------------------------------------
echo "elixir (a mix release, include_erts false)"

ex=$work/elixir/exapp
mkdir -p "$work/elixir/home"
export HOME=$work/elixir/home MIX_HOME=$work/elixir/home/.mix MIX_ENV=prod
(cd "$work/elixir" && mix new exapp --sup >/dev/null)
cat >"$ex/mix.exs" <<'EOF'
defmodule Exapp.MixProject do
  use Mix.Project

  def project do
    [app: :exapp, version: "0.1.0", elixir: "~> 1.14", deps: [],
     releases: [exapp: [include_erts: false]]]
  end

  def application, do: [extra_applications: [:logger], mod: {Exapp.Application, []}]
end
EOF
cat >"$ex/lib/exapp/application.ex" <<'EOF'
defmodule Exapp.Application do
  @moduledoc false
  use Application

  # EXAPP_FAIL picks how this corpus application fails to start.
  @impl true
  def start(_type, _args) do
    children =
      case System.get_env("EXAPP_FAIL") do
        "listen" -> [Exapp.Listener]
        "connect" -> [Exapp.Repo]
        "mix_env" -> [{Exapp.Worker, Mix.env()}]
        "raise" -> raise ArgumentError, "invalid :pool_size, expected a positive integer, got: 0"
        "write" -> File.write!("data/state.bin", "") && []
        _ -> []
      end

    IO.puts("exapp: started")
    Supervisor.start_link(children, strategy: :one_for_one, name: Exapp.Supervisor)
  end
end

defmodule Exapp.Listener do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil)

  @impl true
  def init(_) do
    port = String.to_integer(System.get_env("PORT", "4000"))
    {:ok, socket} = :gen_tcp.listen(port, ip: {127, 0, 0, 1})
    {:ok, socket}
  end
end

defmodule Exapp.Repo do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil)

  @impl true
  def init(_) do
    host = System.get_env("DB_HOST", "db")
    {:ok, socket} = :gen_tcp.connect(String.to_charlist(host), 5432, [], 2000)
    {:ok, socket}
  end
end

defmodule Exapp.Worker do
  use GenServer
  def start_link(env), do: GenServer.start_link(__MODULE__, env)

  @impl true
  def init(env), do: {:ok, env}
end
EOF
mkdir -p "$ex/config"
cat >"$ex/config/runtime.exs" <<'EOF'
import Config

database_url =
  System.get_env("DATABASE_URL") ||
    raise """
    environment variable DATABASE_URL is missing.
    For example: ecto://USER:PASS@HOST/DATABASE
    """

config :exapp, database_url: database_url
EOF
(cd "$ex" && mix release --quiet --overwrite >/dev/null 2>&1) || {
	echo "boot-corpus: mix release failed" >&2
	(cd "$ex" && mix release --overwrite)
	exit 1
}
runtime_exs=$(cat "$ex/config/runtime.exs")

# exrel CLASS CASE [RUNTIME_EXS]: a copy of the release for one case; sets $dir.
exrel() {
	dir=$work/$1/$2
	mkdir -p "$dir"
	cp -a "$ex/_build/prod/rel/exapp/." "$dir/"
	printf '%s\n' "${3:-$runtime_exs}" >"$dir/releases/0.1.0/runtime.exs"
	chmod -R a+rX "$work/$1" "$dir"
}
exstart=(bin/exapp start)
exenv=(RELEASE_DISTRIBUTION=none)

exrel missing-env elixir-runtime-exs
run missing-env elixir-runtime-exs "${exenv[@]}" -- "${exstart[@]}"
want missing-env elixir-runtime-exs missing-env DATABASE_URL true \
	'config/runtime.exs raises "environment variable DATABASE_URL is missing." (the phx.new template)'
run_timeout=4 run missing-env elixir-runtime-exs-healthy "${exenv[@]}" DATABASE_URL=ecto://u:p@db.example/app -- "${exstart[@]}"
want missing-env elixir-runtime-exs-healthy "" "" false 'twin: DATABASE_URL set; runs until SIGTERM'

exrel missing-env elixir-fetch-env 'import Config
config :exapp, secret_key_base: System.fetch_env!("SECRET_KEY_BASE")'
run missing-env elixir-fetch-env "${exenv[@]}" -- "${exstart[@]}"
want missing-env elixir-fetch-env missing-env SECRET_KEY_BASE true 'runtime.exs calls System.fetch_env!("SECRET_KEY_BASE")'

exrel config-syntax elixir-runtime-exs 'import Config
config :exapp,
  port: 4000,
  host: "mcp.example.com"
  pool_size: 10'
run config-syntax elixir-runtime-exs "${exenv[@]}" -- "${exstart[@]}"
want config-syntax elixir-runtime-exs config-syntax \
	"$dir/releases/0.1.0/runtime.exs:5: syntax error before: pool_size" true 'a comma missing in runtime.exs'

exrel undef elixir-runtime-exs 'import Config
config :exapp, env: Mix.env()'
run undef elixir-runtime-exs "${exenv[@]}" -- "${exstart[@]}"
want undef elixir-runtime-exs undef Mix.env/0 true 'runtime.exs calls Mix.env(), which a release does not have'

exrel undef elixir-app-mix-env
run undef elixir-app-mix-env "${exenv[@]}" DATABASE_URL=ecto://db.example/app EXAPP_FAIL=mix_env -- "${exstart[@]}"
want undef elixir-app-mix-env undef Mix.env/0 true 'Application.start/2 calls Mix.env()'

exrel port-in-use elixir-listener
run port-in-use elixir-listener "${exenv[@]}" DATABASE_URL=ecto://db.example/app EXAPP_FAIL=listen PORT="$held" -- "${exstart[@]}"
want port-in-use elixir-listener port-in-use Exapp.Listener false \
	'a supervised GenServer listens on a port another process holds'

exrel dns elixir-connect
run dns elixir-connect "${exenv[@]}" DATABASE_URL=ecto://db.example/app EXAPP_FAIL=connect DB_HOST=db.invalid -- "${exstart[@]}"
want dns elixir-connect dns Exapp.Repo false 'a supervised GenServer connects to a host under .invalid'

exrel permission elixir-file-write
mkdir -p "$dir/data"
chmod 755 "$dir/data"
run permission elixir-file-write "${exenv[@]}" DATABASE_URL=ecto://db.example/app EXAPP_FAIL=write -- "${nobody[@]}" "${exstart[@]}"
want permission elixir-file-write permission data/state.bin true 'runs as nobody; File.write! into a root-owned data/'

exrel start-crash elixir-raise
run start-crash elixir-raise "${exenv[@]}" DATABASE_URL=ecto://db.example/app EXAPP_FAIL=raise -- "${exstart[@]}"
want start-crash elixir-raise start-crash \
	'exapp: (ArgumentError) invalid :pool_size, expected a positive integer, got: 0' false \
	'Application.start/2 raises ArgumentError'

# --- install ---------------------------------------------------------------
find "$out" -mindepth 1 -maxdepth 1 -type d ! -name public -exec rm -rf {} +
cp -a "$stage/." "$out/"
n=$(find "$stage" -name '*.log' | wc -l)
echo "boot-corpus: $n cases written to ${out#"$root"/}"
