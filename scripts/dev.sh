#!/usr/bin/env bash
# Runs the gateway locally against the local development issuer (tools/dev-issuer.mjs):
#   bash scripts/dev.sh
# Sets up the tools, starts the issuer in the background (stopped on exit), mints a token with scope
# read:messages, prints ready-to-paste curl commands, then runs `wrangler dev` in the foreground.
# Ports: GATEWAY_PORT (default 8787), ISSUER_PORT (default 8788). Extra arguments go to `wrangler dev`.
set -euo pipefail
cd "$(dirname "$0")/.."

GATEWAY_PORT="${GATEWAY_PORT:-8787}"
ISSUER_PORT="${ISSUER_PORT:-8788}"
AUDIENCE="https://api.example.local"
ISSUER_URL="http://127.0.0.1:${ISSUER_PORT}"
GATEWAY_URL="http://127.0.0.1:${GATEWAY_PORT}"

bash scripts/setup.sh

issuer_pid=
cleanup() {
  if [ -n "$issuer_pid" ] && kill -0 "$issuer_pid" 2>/dev/null; then
    kill "$issuer_pid" 2>/dev/null || true
    wait "$issuer_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node tools/dev-issuer.mjs --port "$ISSUER_PORT" --host 127.0.0.1 --audience "$AUDIENCE" --key-dir .dev-issuer &
issuer_pid=$!

# Wait for the issuer's discovery document (up to 10 s).
for _ in $(seq 1 100); do
  if ! kill -0 "$issuer_pid" 2>/dev/null; then
    echo "dev.sh: the development issuer did not start (is port ${ISSUER_PORT} taken? set ISSUER_PORT)" >&2
    exit 1
  fi
  if node -e "fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" \
      "${ISSUER_URL}/.well-known/openid-configuration" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

token=$(node tools/dev-issuer.mjs mint --issuer-url "$ISSUER_URL" --scope "read:messages")

if [ -f .dev.vars ]; then
  echo "dev.sh: .dev.vars exists; its AUTH0_DOMAIN and AUTH0_AUDIENCE are overridden by --var (other settings in it still apply)."
fi

cat <<BANNER

  Gateway:  ${GATEWAY_URL}   (issuer ${ISSUER_URL}/, audience ${AUDIENCE})
  A token with scope read:messages, valid for an hour (mint more with
  node tools/dev-issuer.mjs mint --issuer-url ${ISSUER_URL} --scope "read:messages"):

    TOKEN=${token}

    curl -i ${GATEWAY_URL}/api/public
    curl -i -H "Authorization: Bearer \$TOKEN" ${GATEWAY_URL}/api/private
    curl -i -H "Authorization: Bearer \$TOKEN" ${GATEWAY_URL}/api/private-scoped

BANNER

# Not exec: the EXIT trap must still stop the issuer when wrangler ends.
npx wrangler dev --ip 127.0.0.1 --port "$GATEWAY_PORT" \
  --var "AUTH0_DOMAIN:${ISSUER_URL}" --var "AUTH0_AUDIENCE:${AUDIENCE}" "$@"
