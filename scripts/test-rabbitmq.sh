#!/usr/bin/env bash
# Start (or reuse) a throwaway RabbitMQ node on loopback for the scale-mode tests and
# `make run-scale`, and print its AMQP URL. Data lives in a temp directory; the node is our own
# (own name, ports and cookie), never the system service. `stop` as the first argument stops it.
# The node's Erlang VM pid is in $DIR/node.pid (the kill tests kill -9 it and start it again).
set -euo pipefail
PORT=${OPENDCC_TEST_AMQP_PORT:-56729}
DIR=${OPENDCC_TEST_RABBITMQ_DIR:-${TMPDIR:-/tmp}/opendcc-rabbitmq-$PORT}
BIN=/usr/lib/rabbitmq/bin
[ -x "$BIN/rabbitmq-server" ] || { echo "RabbitMQ server not installed (make rabbitmq)" >&2; exit 1; }

# Run it as the rabbitmq user when we are root, as the Debian package does.
as_mq() { if [ "$(id -u)" = 0 ]; then runuser -u rabbitmq -- env "$@"; else env "$@"; fi; }

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown rabbitmq "$DIR"
NODE="opendcc-test-$PORT@localhost"
ENV=(
  HOME="$DIR" RABBITMQ_NODENAME="$NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  RABBITMQ_NODE_PORT="$PORT" RABBITMQ_DIST_PORT=$((PORT - 10000)) ERL_EPMD_ADDRESS=127.0.0.1
  RABBITMQ_MNESIA_BASE="$DIR/mnesia" RABBITMQ_LOG_BASE="$DIR/log" RABBITMQ_PID_FILE="$DIR/node.pid"
  RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins" RABBITMQ_CONFIG_FILE="$DIR/rabbitmq"
  RABBITMQ_ADVANCED_CONFIG_FILE="$DIR/advanced.config" ERL_CRASH_DUMP="$DIR/erl_crash.dump"
)
up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  [ -f "$DIR/node.pid" ] && kill "$(cat "$DIR/node.pid")" 2>/dev/null || true
  exit 0
fi
if ! up; then
  [ -f "$DIR/enabled_plugins" ] || echo "[]." >"$DIR/enabled_plugins"
  # Loopback only; the guest user may log in (from loopback, RabbitMQ's default).
  printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$PORT" >"$DIR/rabbitmq.conf"
  [ "$(id -u)" = 0 ] && chown rabbitmq "$DIR"/*
  (cd "$DIR" && as_mq "${ENV[@]}" setsid "$BIN/rabbitmq-server") >>"$DIR/server.log" 2>&1 </dev/null &
  launcher=$!
  for _ in $(seq 1 900); do up && break; kill -0 $launcher 2>/dev/null || break; sleep 0.1; done
  up || { echo "RabbitMQ did not start; see $DIR/server.log" >&2; tail -20 "$DIR/server.log" >&2; exit 1; }
fi
echo "amqp://guest:guest@127.0.0.1:$PORT/"
