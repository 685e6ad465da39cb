# hello-db's plugin.sh: called as `plugin.sh MODE PHASE`.

function install_hello_db {
    mkdir -p "$HELLO_DB_DATA"
    install_package sqlite3
}

function init_hello_db {
    echo "database=$HELLO_DB_NAME" > "$HELLO_DB_DATA/$HELLO_DB_NAME.db"
}

function start_hello_db {
    # A long-running process; unstack stops it.
    run_process hello-db "$(command -v bash) -c 'while :; do date > $HELLO_DB_DATA/heartbeat; sleep 5; done'"
}

if is_service_enabled hello-db; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing hello-db"
        install_hello_db
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Starting hello-db"
        init_hello_db
        start_hello_db
    fi
    if [[ "$1" == "unstack" ]]; then
        stop_process hello-db
    fi
    if [[ "$1" == "clean" ]]; then
        rm -rf "$HELLO_DB_DATA"
    fi
fi
