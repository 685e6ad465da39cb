# hello-app's plugin.sh.

function configure_hello_app {
    mkdir -p "$HELLO_APP_CONF_DIR"
    # hello-db's settings were sourced before this plugin runs: its variables are known here.
    iniset "$HELLO_APP_CONF" database connection "sqlite:///$HELLO_DB_DATA/$HELLO_DB_NAME.db"
    iniset "$HELLO_APP_CONF" DEFAULT debug "$(trueorfalse False HELLO_APP_DEBUG)"
}

if is_service_enabled hello-app; then
    if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
        is_plugin_enabled hello-db || die $LINENO "hello-app needs hello-db"
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring hello-app"
        configure_hello_app
    elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
        echo "hello-app configuration:"
        cat "$HELLO_APP_CONF"
    fi
fi
