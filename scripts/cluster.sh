#!/usr/bin/env bash
# A herald-server cluster on this machine, for trying it out: Postgres and
# Redis from Debian's packages, and N herald-server nodes (default 2) on
# them, until Ctrl+C; then it all stops and its temporary folder is deleted.
#
#   scripts/cluster.sh            # 2 nodes: http://127.0.0.1:3001 and :3002
#   scripts/cluster.sh 3          # 3 nodes
#   scripts/cluster.sh --check    # start 2 nodes, post on one, read on the other, stop
#
# Postgres refuses to run as root, so it runs as the postgres user on a data
# directory of its own under the temporary folder. The nodes share one
# herald data directory there: its JWT secret and VAPID keys are what nodes
# on separate machines would share (HERALD_JWT_SECRET, and a copy of
# vapid-private-key). Put any TCP load balancer in front of the nodes:
# they serve WebSocket only, so no sticky sessions are needed.
#
# Environment: HERALD_CLUSTER_PORT (first node's port, 3001),
# HERALD_CLUSTER_PG_PORT (55432), HERALD_CLUSTER_REDIS_PORT (56379).
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
nodes=2
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *[!0-9]*) echo "usage: scripts/cluster.sh [NODES | --check]" >&2; exit 2 ;;
  *) nodes=$1 ;;
esac
base_port=${HERALD_CLUSTER_PORT:-3001}
pg_port=${HERALD_CLUSTER_PG_PORT:-55432}
redis_port=${HERALD_CLUSTER_REDIS_PORT:-56379}

for tool in redis-server runuser; do
  command -v "$tool" >/dev/null || { echo "cluster: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x $pg_bin/initdb ]] || { echo "cluster: Postgres is missing; run scripts/setup.sh" >&2; exit 1; }

cargo build --locked -q -p herald-server
server=${CARGO_TARGET_DIR:-target}/debug/herald-server

work=$(mktemp -d /tmp/herald-cluster.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -f $work/pg/postmaster.pid ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {
  for _ in $(seq 1 200); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cluster: $1 did not answer" >&2
  return 1
}

echo "cluster: Postgres on 127.0.0.1:$pg_port" >&2
install -d -o postgres -g postgres -m 700 "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg" -A trust -U postgres --no-sync -E UTF8 >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-h 127.0.0.1 -p $pg_port -k $work/pg" start >/dev/null
runuser -u postgres -- "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres herald
database_url="postgres://postgres@127.0.0.1:$pg_port/herald"

echo "cluster: Redis on 127.0.0.1:$redis_port" >&2
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --dir "$work" --loglevel warning &
pids+=($!)
redis_url="redis://127.0.0.1:$redis_port"

data="$work/herald"
export HERALD_DATABASE_URL=$database_url HERALD_REDIS_URL=$redis_url
printf '%s' 'cluster-admin-password' |
  "$server" --data-dir "$data" user add --email admin@example.com --name Admin --role admin --password-stdin
printf '%s' 'cluster-user-password' |
  "$server" --data-dir "$data" user add --email alice@example.com --name Alice --password-stdin

urls=()
for i in $(seq 1 "$nodes"); do
  port=$((base_port + i - 1))
  "$server" --bind "127.0.0.1:$port" --data-dir "$data" --websocket-only &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
  # The first node makes the data directory's keys; the others read them.
  wait_http "http://127.0.0.1:$port/healthz"
done

if ((check)); then
  admin=$(curl -fsS -H 'content-type: application/json' \
    -d '{"email":"admin@example.com","password":"cluster-admin-password"}' \
    "${urls[0]}/api/auth/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  alice=$(curl -fsS -H 'content-type: application/json' \
    -d '{"email":"alice@example.com","password":"cluster-user-password"}' \
    "${urls[1]}/api/auth/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  curl -fsS -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"to":{"user":2},"type":"order_update","title":"Order 1","message":"shipped"}' \
    "${urls[0]}/api/events" >/dev/null
  page=$(curl -fsS -H "authorization: Bearer $alice" "${urls[1]}/api/notifications?after=0")
  grep -q '"Order 1"' <<<"$page" || { echo "cluster: node 2 does not see node 1's event: $page" >&2; exit 1; }
  curl -fsS "${urls[1]}/healthz" | grep -q '"redisOk":true' || { echo "cluster: node 2 is not subscribed" >&2; exit 1; }
  echo "cluster: ok (an event posted on node 1 is read on node 2)" >&2
  exit 0
fi

cat >&2 <<EOT
cluster: ${#urls[@]} nodes: ${urls[*]}
  database: $database_url
  redis:    $redis_url
  accounts: admin@example.com / cluster-admin-password, alice@example.com / cluster-user-password
  Ctrl+C stops everything.
EOT
wait "${pids[@]}"
