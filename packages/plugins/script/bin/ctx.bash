# The ctx command of Weft's script plugin, as a bash function: the running operation's ctx.
#   ctx [-j|--json-output] [-t|--timeout SECONDS] [--socket-url URL] [--json-arg-prefix P] ARGS...
# It talks to the operation's ctx endpoint (CTX_SOCKET_URL, http on loopback) with bash alone.
# The script plugin exports it to bash scripts (a call then costs a fork, not a new bash), and
# the `ctx` command beside it runs it for everything else. Arguments starting with @ are JSON;
# options may come anywhere (as with Cloudify's client), `--` ends them.
# The body is a subshell, quiet under `set -x`, with the caller's options and ERR trap undone and
# names of its own (a caller's readonly variable cannot clash): the caller's shell is untouched.
ctx() {
  (
    {
      set +xeEu +o pipefail
      trap - ERR DEBUG RETURN
    } 2> /dev/null
    export LC_ALL=C # lengths in bytes
    _weft_json=0 _weft_timeout=30 _weft_url=${CTX_SOCKET_URL:-} _weft_prefix=@ _weft_args=()
    while (($#)); do
      case $1 in
        -j | --json-output) _weft_json=1 ;;
        -t | --timeout) _weft_timeout=$2; shift ;;
        --timeout=*) _weft_timeout=${1#*=} ;;
        --socket-url) _weft_url=$2; shift ;;
        --socket-url=*) _weft_url=${1#*=} ;;
        --json-arg-prefix) _weft_prefix=$2; shift ;;
        --json-arg-prefix=*) _weft_prefix=${1#*=} ;;
        -h | --help)
          echo "usage: ctx [-j|--json-output] [-t|--timeout SECONDS] [--socket-url URL] [--json-arg-prefix PREFIX] ARGS..."
          exit 0 ;;
        --) shift; _weft_args+=("$@"); break ;;
        *) _weft_args+=("$1") ;;
      esac
      shift
    done

    if [[ $_weft_url != http://* ]]; then
      echo "ctx: CTX_SOCKET_URL is ${_weft_url:-not set}; ctx works only inside an operation run by Weft's script plugin (it needs an http:// URL)" >&2
      exit 1
    fi
    _weft_hostport=${_weft_url#http://}
    _weft_path=
    [[ $_weft_hostport == */* ]] && _weft_path=/${_weft_hostport#*/}
    _weft_hostport=${_weft_hostport%%/*}

    if ! exec 3<> "/dev/tcp/${_weft_hostport%:*}/${_weft_hostport##*:}"; then
      echo "ctx: cannot reach the ctx endpoint at ${_weft_url%/*}" >&2
      exit 1
    fi

    # One write for the whole request: a second small write would wait for the first one's ACK.
    _weft_length=0 _weft_format=
    for _weft_arg in "${_weft_args[@]}"; do
      _weft_length=$((_weft_length + ${#_weft_arg} + 1))
      _weft_format+='%s\0'
    done
    printf "POST $_weft_path/text HTTP/1.0\r\nContent-Length: $_weft_length\r\nX-Ctx-Json: $_weft_json\r\nX-Ctx-Prefix: %s\r\n\r\n$_weft_format" \
      "$_weft_prefix" "${_weft_args[@]}" >&3

    _weft_status= _weft_exit=1 _weft_size=0
    IFS= read -r -t "$_weft_timeout" _weft_status <&3 || {
      echo "ctx: no answer from the ctx endpoint within ${_weft_timeout}s" >&2
      exit 1
    }
    while IFS= read -r -t "$_weft_timeout" _weft_line <&3; do
      _weft_line=${_weft_line%$'\r'}
      [[ -z $_weft_line ]] && break
      case $_weft_line in
        [Xx]-[Cc]tx-[Ee]xit:*) _weft_exit=${_weft_line#*: } ;;
        [Cc]ontent-[Ll]ength:*) _weft_size=${_weft_line#*: } ;;
      esac
    done
    # The body ends with a '.' (taken off below), so that trailing newlines survive. bash reads a
    # socket a byte at a time: a large body is read by cat instead.
    if ((_weft_size > 65536)); then
      _weft_body=$(cat <&3)
    else
      IFS= read -r -d '' -t "$_weft_timeout" _weft_body <&3
    fi
    exec 3<&-
    _weft_body=${_weft_body%.}
    case $_weft_status in
      *" 200 "*) ;;
      *) echo "ctx: the ctx endpoint answered: ${_weft_status%$'\r'}" >&2; exit 1 ;;
    esac
    if ((_weft_exit == 0)); then printf '%s' "$_weft_body"; else printf '%s' "$_weft_body" >&2; fi
    exit "$_weft_exit"
  )
}
