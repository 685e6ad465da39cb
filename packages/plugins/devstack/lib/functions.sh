# DevStack's helper functions that make sense without a cloud, as Weft provides them to the
# scripts of DevStack plugins (local.conf's localrc section, devstack/override-defaults,
# devstack/settings and devstack/plugin.sh). Written after DevStack's functions-common and
# inc/ini-config: same names, arguments and results. Anything else a plugin calls that is neither
# a function here nor a program on PATH stops the call, naming it and the file:line it was called
# from (command_not_found_handle below).

DEVSTACK_PLUGINS=${DEVSTACK_PLUGINS:-}
ENABLED_SERVICES=${ENABLED_SERVICES:-}
DISABLED_SERVICES=${DISABLED_SERVICES:-}
declare -A GITREPO GITDIR GITBRANCH

# Where a line of local.conf came from: the localrc section is sourced from a copy padded so that
# its line numbers are local.conf's; messages name local.conf instead of the copy.
_weft_where() {
    local file=$1 line=$2
    if [[ -n ${WEFT_LOCALRC_COPY:-} && $file == "$WEFT_LOCALRC_COPY" ]]; then
        file=$WEFT_LOCAL_CONF
    fi
    echo "$file:$line"
}

# A command that is not there: a DevStack function Weft does not provide (accounts, endpoints,
# images need a cloud) or a missing program. Bash runs this handler in a subshell, so it signals
# the shell running the plugin, whose trap ends the call with 127.
command_not_found_handle() {
    echo "[ERROR] $(_weft_where "${BASH_SOURCE[1]:-}" "${BASH_LINENO[0]:-0}"): $1: command not found (not a DevStack function Weft provides, nor a program on PATH)" >&2
    [[ -n ${WEFT_SHELL_PID:-} ]] && kill -USR1 "$WEFT_SHELL_PID"
    return 127
}
WEFT_SHELL_PID=$$
trap 'exit 127' USR1

# Control functions
# =================

function err {
    local exitcode=$?
    echo "[ERROR] $(_weft_where "${BASH_SOURCE[2]:-${BASH_SOURCE[1]}}" "$1") $2" >&2
    return $exitcode
}

function warn {
    local exitcode=$?
    echo "[WARNING] $(_weft_where "${BASH_SOURCE[2]:-${BASH_SOURCE[1]}}" "$1") $2"
    return $exitcode
}

# Ends the call with a message about the line that called the function calling this one (a
# localrc line for enable_plugin), where DevStack's die would name its own functions' line.
function _weft_die_at_caller {
    echo "[ERROR] $(_weft_where "${BASH_SOURCE[2]}" "${BASH_LINENO[1]}") $*" >&2
    exit 1
}

# die $LINENO "message": prints the message where it was called from and ends the call.
function die {
    local exitcode=$?
    set +o xtrace
    local line=$1; shift
    if [[ $exitcode == 0 ]]; then
        exitcode=1
    fi
    echo "[ERROR] $(_weft_where "${BASH_SOURCE[1]}" "$line") $*" >&2
    exit $exitcode
}

function is_set {
    [[ -n ${!1:-} ]]
}

# die_if_not_set $LINENO VAR "message": dies when VAR is unset or empty, or the last command failed.
function die_if_not_set {
    local exitcode=$?
    local line=$1; shift
    local evar=$1; shift
    if ! is_set "$evar" || [[ $exitcode != 0 ]]; then
        (exit $exitcode)
        die "$line" "$*"
    fi
}

function err_if_not_set {
    local exitcode=$?
    local line=$1; shift
    local evar=$1; shift
    if ! is_set "$evar" || [[ $exitcode != 0 ]]; then
        err "$line" "$*"
    fi
    return $exitcode
}

function echo_summary {
    echo "$@"
}

function deprecated {
    echo "WARNING: $1" >&2
}

# VAL=$(trueorfalse DEFAULT VAR): True or False from VAR's value, DEFAULT when it is neither.
function trueorfalse {
    local default=$1
    if [[ -z ${2:-} ]]; then
        die $LINENO "variable to normalize required"
    fi
    local testval=${!2:-}
    case "$testval" in
        1 | [yY]es | YES | [tT]rue | TRUE) echo True ;;
        0 | [nN]o | NO | [fF]alse | FALSE) echo False ;;
        *) echo "$default" ;;
    esac
}

function bool_to_int {
    if [[ ${1:-} == True ]]; then echo 1; else echo 0; fi
}

function isset {
    [[ -v "$1" ]]
}

# Services
# ========

function _cleanup_service_list {
    echo "$1" | sed -e 's/,,*/,/g; s/^,//; s/,$//'
}

# is_service_enabled SERVICE...: true when any of them is in ENABLED_SERVICES (or its own
# is_SERVICE_enabled function says so).
function is_service_enabled {
    local service
    for service in "$@"; do
        [[ ,${ENABLED_SERVICES}, =~ ,${service}, ]] && return 0
        if declare -F "is_${service}_enabled" >/dev/null && "is_${service}_enabled"; then
            return 0
        fi
    done
    return 1
}

function enable_service {
    local tmpsvcs="${ENABLED_SERVICES}"
    local service
    for service in "$@"; do
        if [[ ,${DISABLED_SERVICES}, =~ ,${service}, ]]; then
            warn $LINENO "Attempt to enable_service ${service} when it has been disabled"
            continue
        fi
        if ! is_service_enabled "$service"; then
            tmpsvcs+=",$service"
        fi
    done
    ENABLED_SERVICES=$(_cleanup_service_list "$tmpsvcs")
}

function disable_service {
    local disabled_svcs="${DISABLED_SERVICES}"
    local enabled_svcs=",${ENABLED_SERVICES},"
    local service
    for service in "$@"; do
        disabled_svcs+=",$service"
        enabled_svcs=${enabled_svcs//,$service,/,}
    done
    DISABLED_SERVICES=$(_cleanup_service_list "$disabled_svcs")
    ENABLED_SERVICES=$(_cleanup_service_list "$enabled_svcs")
}

function disable_all_services {
    ENABLED_SERVICES=""
}

# Plugins
# =======

# enable_plugin NAME URL [REF]: registers a plugin (REF defaults to master); twice is fatal.
function enable_plugin {
    local name=$1
    local url=$2
    local branch=${3:-master}
    if [[ -z $name || -z $url ]]; then
        _weft_die_at_caller "enable_plugin needs a name and a git URL: enable_plugin NAME URL [REF]"
    fi
    if is_plugin_enabled "$name"; then
        _weft_die_at_caller "Plugin attempted to be enabled twice: ${name} ${url} ${branch}"
    fi
    DEVSTACK_PLUGINS+=",$name"
    DEVSTACK_PLUGINS=${DEVSTACK_PLUGINS#,}
    GITREPO[$name]=$url
    GITDIR[$name]=$DEST/$name
    GITBRANCH[$name]=$branch
    if [[ -n ${WEFT_REPORT_FD:-} ]]; then
        printf 'plugin\t%s\t%s\t%s\t%s\n' "$name" "$url" "$branch" "$(_weft_where "${BASH_SOURCE[1]}" "${BASH_LINENO[0]}")" >&"$WEFT_REPORT_FD"
    fi
}

function is_plugin_enabled {
    [[ ,${DEVSTACK_PLUGINS}, =~ ,${1}, ]]
}

# DevStack ignores these two; Weft records them to check (and optionally order by) requirements.
function define_plugin {
    if [[ -n ${WEFT_REPORT_FD:-} ]]; then
        printf 'define\t%s\t%s\n' "${WEFT_SOURCING_PLUGIN:-}" "$1" >&"$WEFT_REPORT_FD"
    fi
}

function plugin_requires {
    if [[ -n ${WEFT_REPORT_FD:-} ]]; then
        printf 'requires\t%s\t%s\n' "$1" "$2" >&"$WEFT_REPORT_FD"
    fi
}

# Packages
# ========

function is_package_installed {
    [[ $# -gt 0 ]] || return 1
    if command -v dpkg >/dev/null; then
        dpkg -s "$@" >/dev/null 2>&1
    elif command -v rpm >/dev/null; then
        rpm --quiet -q "$@"
    else
        return 1
    fi
}

# install_package PACKAGE...: through the system package manager when Weft runs with
# --allow-packages; otherwise the packages not installed are listed as needed and the call goes on.
function install_package {
    if [[ ${WEFT_ALLOW_PACKAGES:-False} == True ]]; then
        local sudo=""
        [[ $EUID -ne 0 ]] && sudo="sudo"
        if command -v apt-get >/dev/null; then
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
        elif command -v dnf >/dev/null; then
            $sudo dnf install -y "$@"
        elif command -v yum >/dev/null; then
            $sudo yum install -y "$@"
        else
            die $LINENO "no package manager (apt-get, dnf, yum) to install: $*"
        fi
        return
    fi
    local package
    for package in "$@"; do
        if ! is_package_installed "$package"; then
            echo "[WARNING] $(_weft_where "${BASH_SOURCE[1]}" "${BASH_LINENO[0]}") package needed, not installed (run with --allow-packages to install it): $package"
            [[ -n ${WEFT_NEEDED_PACKAGES:-} ]] && echo "$package" >>"$WEFT_NEEDED_PACKAGES"
        fi
    done
    return 0
}

# Git
# ===

# git_clone REMOTE DEST REF: clones only when DEST does not exist (RECLONE=True fetches again),
# then checks REF out, as DevStack does.
function git_clone {
    local git_remote=$1
    local git_dest=$2
    local git_ref=${3:-master}
    local orig_dir
    orig_dir=$(pwd)
    RECLONE=$(trueorfalse False RECLONE)
    if [[ ${OFFLINE:-False} == True ]]; then
        echo "Running in offline mode, clones already exist"
        return
    fi
    if [[ ! -d $git_dest ]]; then
        git clone --quiet --no-checkout "$git_remote" "$git_dest" || die $LINENO "could not clone $git_remote"
        cd "$git_dest" || die $LINENO "no $git_dest"
        git fetch --quiet origin "$git_ref" || die $LINENO "could not fetch $git_ref from $git_remote"
        git checkout --quiet FETCH_HEAD || die $LINENO "could not check $git_ref out"
    elif [[ $RECLONE == True ]]; then
        cd "$git_dest" || die $LINENO "no $git_dest"
        git remote set-url origin "$git_remote"
        git fetch --quiet origin "$git_ref" || die $LINENO "could not fetch $git_ref from $git_remote"
        git checkout --quiet --force FETCH_HEAD || die $LINENO "could not check $git_ref out"
    fi
    cd "$git_dest" && git show --oneline --no-patch | head -1
    cd "$orig_dir" || return
}

# Ini files (DevStack's inc/ini-config)
# =========

function iniget {
    local file=$1 section=$2 option=$3
    local line
    line=$(sed -ne "/^\[$section\]/,/^\[.*\]/ { /^$option[ \t]*=/ p; }" "$file")
    echo ${line#*=}
}

function iniget_multiline {
    local file=$1 section=$2 option=$3
    local values
    values=$(sed -ne "/^\[$section\]/,/^\[.*\]/ { s/^$option[ \t]*=[ \t]*//gp; }" "$file")
    echo ${values}
}

function ini_has_option {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3
    local line
    line=$(sed -ne "/^\[$section\]/,/^\[.*\]/ { /^$option[ \t]*=/ p; }" "$file")
    [[ -n $line ]]
}

# iniset [-sudo] FILE SECTION OPTION VALUE: sets OPTION in SECTION, adding either when missing.
function iniset {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3 value=$4
    [[ -z $section || -z $option ]] && return
    value=$(echo $value | sed -e 's/\\/\\\\/g' -e 's/&/\\&/g')
    if ! grep -q "^\[$section\]" "$file" 2>/dev/null; then
        echo -e "\n[$section]" >>"$file"
    fi
    if ! ini_has_option "$file" "$section" "$option"; then
        sed -i -e "/^\[$section\]/ a\\
$option = $value
" "$file"
    else
        local sep
        sep=$(echo -ne "\x01")
        sed -i -e '/^\['"${section}"'\]/,/^\[.*\]/ s'"${sep}"'^\('"${option}"'[ \t]*=[ \t]*\).*$'"${sep}"'\1'"${value}${sep}" "$file"
    fi
}

function iniset_multiline {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3
    shift 3
    local values="" v
    for v in "$@"; do
        values="$v ${values}"
    done
    if ! grep -q "^\[$section\]" "$file" 2>/dev/null; then
        echo -e "\n[$section]" >>"$file"
    else
        sed -i -e "/^\[$section\]/,/^\[.*\]/ { /^$option[ \t]*=/ d; }" "$file"
    fi
    for v in $values; do
        sed -i -e "/^\[$section\]/ a\\
$option = $v
" "$file"
    done
}

# iniadd [-sudo] FILE SECTION OPTION VALUE...: adds values to a multi-line option.
function iniadd {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3
    shift 3
    local values
    values="$(iniget_multiline "$file" "$section" "$option") $*"
    iniset_multiline "$file" "$section" "$option" $values
}

function iniadd_literal {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3 value=$4
    [[ -z $section || -z $option ]] && return
    sed -i -e "/^\[$section\]/ a\\
$option = $value
" "$file"
}

function inidelete {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3
    [[ -z $section || -z $option ]] && return
    sed -i -e "/^\[$section\]/,/^\[.*\]/ { /^$option[ \t]*=/ d; }" "$file"
}

function inicomment {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3
    sed -i -e "/^\[$section\]/,/^\[.*\]/ s|^\($option[ \t]*=.*$\)|#\1|" "$file"
}

function iniuncomment {
    [[ $1 == -sudo ]] && shift
    local file=$1 section=$2 option=$3
    sed -i -e "/^\[$section\]/,/^\[.*\]/ s|[^ \t]*#[ \t]*\($option[ \t]*=.*$\)|\1|" "$file"
}

function iniget_sections {
    echo $(sed -ne "s/^\[\(.*\)\]/\1/p" "$1")
}

# Processes
# =========

# run_process SERVICE "COMMAND" [GROUP] [USER] [ENV]: when SERVICE is enabled, starts COMMAND in
# the background in its own session (DevStack uses a systemd unit), its pid in
# $SERVICE_DIR/SERVICE.pid and its output in $LOGDIR/SERVICE.log. Unstack stops what is left.
function run_process {
    local service=$1
    local command=$2
    local env_vars=${5:-}
    is_service_enabled "$service" || return 0
    mkdir -p "$SERVICE_DIR" "$LOGDIR"
    local pidfile=$SERVICE_DIR/$service.pid
    if [[ -f $pidfile ]] && _weft_alive "$(cat "$pidfile")"; then
        echo "$service already runs (pid $(cat "$pidfile"))"
        return 0
    fi
    # shellcheck disable=SC2086
    env $env_vars setsid bash -c "exec $command" </dev/null >>"$LOGDIR/$service.log" 2>&1 &
    echo $! >"$pidfile"
    echo "Started $service (pid $!), log $LOGDIR/$service.log"
}

# Whether a process runs: a zombie (ended, not yet reaped by whoever adopted it) does not.
function _weft_alive {
    kill -0 "$1" 2>/dev/null || return 1
    [[ -r /proc/$1/stat ]] || return 0
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# stop_process SERVICE: stops what run_process started (its whole process group), waiting for it.
function stop_process {
    local service=$1
    local pidfile=$SERVICE_DIR/$service.pid
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    if _weft_alive "$pid"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        local waited=0
        while _weft_alive "$pid" && [[ $waited -lt ${STOP_TIMEOUT:-100} ]]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if _weft_alive "$pid"; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        fi
        echo "Stopped $service (pid $pid)"
    fi
    rm -f "$pidfile"
}

function is_running {
    pgrep -f "$1" >/dev/null
}
