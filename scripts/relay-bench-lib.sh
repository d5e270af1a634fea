# Shared by scripts/bench-relay.sh and scripts/glass-to-glass.sh (sourced, not run).
# Sets $work (a temporary directory) and $server (a server process to stop), cleaned at exit.

work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A free loopback port.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits until something listens on port $1 (5 s at most).
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
  echo "nothing listens on $1"; exit 1
}

# Stream $1 → its query string, signed with $key for an hour (url-signing.md).
signed() {
  python3 -c "import hashlib,sys,time; t='%X'%(int(time.time())+3600); print('txSecret='+hashlib.md5(('$key'+sys.argv[1]+t).encode()).hexdigest()+'&txTime='+t)" "$1"
}
