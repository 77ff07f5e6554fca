#!/bin/sh
# Start, stop or restart IBTool's API (and the front end it serves) in the background.
# Its pid and log live in IBTOOL_RUN; the environment carries API_PORT, DB_URL, REDIS_*,
# FRONT_DIR (the plan's `env:`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
run=${IBTOOL_RUN:?set IBTOOL_RUN to the folder of the pid and log files}
mkdir -p "$run"
pid_file="$run/api.pid"

stop() {
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    kill "$(cat "$pid_file")"
    i=0
    while kill -0 "$(cat "$pid_file")" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  rm -f "$pid_file"
}

start() {
  IBTOOL_VERSION=$(cat "$here/VERSION" 2>/dev/null || echo dev) \
    setsid nohup python3 "$here/server.py" >>"$run/api.log" 2>&1 </dev/null &
  echo $! >"$pid_file"
  # Ready when the port answers (5 s at most); the plan's verification judges the rest.
  i=0
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2)" "${API_PORT:-8181}" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "the API did not open port ${API_PORT:-8181}; see $run/api.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "IBTool API $(cat "$here/VERSION" 2>/dev/null || echo dev) on port ${API_PORT:-8181}"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
