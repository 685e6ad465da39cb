# Runs one step of a DevStack environment in a fresh bash, the way stack.sh, unstack.sh and
# clean.sh prepare their shell: the helper functions, local.conf's localrc section, then every
# plugin's devstack/override-defaults and devstack/settings in plugin order. Weft sets:
#   WEFT_DEVSTACK_LIB    this directory
#   WEFT_LOCAL_CONF      local.conf; WEFT_LOCALRC_COPY its localrc section (same line numbers)
#   WEFT_DEFAULT_DEST    DEST unless localrc sets it
#   WEFT_ACTION          discover (report plugins and DEST), settings (report services and
#                        define_plugin/plugin_requires), call (source devstack/plugin.sh
#                        WEFT_MODE WEFT_PHASE of WEFT_PLUGIN), merge (source WEFT_MERGE_SCRIPT),
#                        stop-processes (stop what run_process started and is still running)
#   WEFT_PLUGIN_ORDER    the plugins in the order Weft runs them (after discover)
#   WEFT_REPORT_FD       where discover and settings write their reports
source "$WEFT_DEVSTACK_LIB/functions.sh"

TOP_DIR=$(cd "$(dirname "$WEFT_LOCAL_CONF")" && pwd)
DEST=$WEFT_DEFAULT_DEST
STACK_USER=${STACK_USER:-$(id -un)}
source "$WEFT_LOCALRC_COPY"
DATA_DIR=${DATA_DIR:-$DEST/data}
LOGDIR=${LOGDIR:-$DEST/logs}
SERVICE_DIR=${SERVICE_DIR:-$DEST/status}

if [[ $WEFT_ACTION == discover ]]; then
    printf 'dest\t%s\n' "$DEST" >&"$WEFT_REPORT_FD"
    for _weft_plugin in ${DEVSTACK_PLUGINS//,/ }; do
        printf 'gitdir\t%s\t%s\n' "$_weft_plugin" "${GITDIR[$_weft_plugin]}" >&"$WEFT_REPORT_FD"
    done
    exit 0
fi

# stack.sh runs with errexit from the plugins' override-defaults on; unstack.sh and clean.sh do not.
[[ ${WEFT_MODE:-} == stack ]] && set -o errexit

DEVSTACK_PLUGINS=${WEFT_PLUGIN_ORDER// /,}
for _weft_plugin in $WEFT_PLUGIN_ORDER; do
    if [[ -f ${GITDIR[$_weft_plugin]}/devstack/override-defaults ]]; then
        source "${GITDIR[$_weft_plugin]}/devstack/override-defaults"
    fi
done
for _weft_plugin in $WEFT_PLUGIN_ORDER; do
    if [[ -f ${GITDIR[$_weft_plugin]}/devstack/settings ]]; then
        WEFT_SOURCING_PLUGIN=$_weft_plugin
        source "${GITDIR[$_weft_plugin]}/devstack/settings"
    fi
done
unset _weft_plugin WEFT_SOURCING_PLUGIN

case $WEFT_ACTION in
settings)
    printf 'services\t%s\n' "$ENABLED_SERVICES" >&"$WEFT_REPORT_FD"
    ;;
call)
    unset WEFT_REPORT_FD
    source "${GITDIR[$WEFT_PLUGIN]}/devstack/plugin.sh" "$WEFT_MODE" "${WEFT_PHASE:-}"
    # Without errexit (unstack, clean) DevStack goes on whatever the last command returned; only
    # die, exit and a missing command end such a call with a failure.
    [[ $WEFT_MODE == stack ]] || exit 0
    ;;
merge)
    source "$WEFT_MERGE_SCRIPT"
    ;;
stop-processes)
    for _weft_pidfile in "$SERVICE_DIR"/*.pid; do
        [[ -f $_weft_pidfile ]] || continue
        _weft_service=$(basename "$_weft_pidfile" .pid)
        # stop_process stops enabled services only in DevStack; what Weft started, it stops.
        stop_process "$_weft_service"
    done
    ;;
esac
