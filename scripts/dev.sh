#!/usr/bin/env bash
# Runs the gateway locally against the local development issuer (tools/dev-issuer.mjs):
#   bash scripts/dev.sh
# Sets up the tools, starts the issuer in the background (stopped on exit), mints a token with scope
# read:messages, prints ready-to-paste curl commands, then runs `wrangler dev` in the foreground.
# Ports: GATEWAY_PORT (default 8787), ISSUER_PORT (default 8788). Extra arguments go to `wrangler dev`.
#
#   bash scripts/dev.sh --mcp        (or MCP_DEMO=1 bash scripts/dev.sh)
# The MCP demo (README: MCP servers, Try it locally): the demo MCP server (tools/mcp-demo-server.mjs, port
# MCP_PORT, default 8789) is the origin, the gateway fronts it as the resource ${GATEWAY_URL}/mcp with the
# tool delete_note guarded by the scope notes:delete, and the printed commands show discovery, a refused
# call and an allowed one. The issuer is also the authorization server an MCP client can sign in with.
set -euo pipefail
cd "$(dirname "$0")/.."

MCP_DEMO="${MCP_DEMO:-}"
if [ "${1:-}" = "--mcp" ]; then
  MCP_DEMO=1
  shift
fi

GATEWAY_PORT="${GATEWAY_PORT:-8787}"
ISSUER_PORT="${ISSUER_PORT:-8788}"
MCP_PORT="${MCP_PORT:-8789}"
AUDIENCE="https://api.example.local"
ISSUER_URL="http://127.0.0.1:${ISSUER_PORT}"
GATEWAY_URL="http://127.0.0.1:${GATEWAY_PORT}"

bash scripts/setup.sh

issuer_pid=
mcp_pid=
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  stop_pid "$issuer_pid"
  stop_pid "$mcp_pid"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for PID URL WHAT PORT_VARIABLE: waits (up to 10 s) until URL answers, or fails if PID has exited.
# Any HTTP answer counts (the MCP server answers GET with 405).
wait_for() {
  for _ in $(seq 1 100); do
    if ! kill -0 "$1" 2>/dev/null; then
      echo "dev.sh: $3 did not start (is its port taken? set $4)" >&2
      exit 1
    fi
    if node -e "fetch(process.argv[1]).then(() => process.exit(0), () => process.exit(1))" "$2" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "dev.sh: $3 did not answer on $2 within 10 s" >&2
  exit 1
}

node tools/dev-issuer.mjs --port "$ISSUER_PORT" --host 127.0.0.1 --audience "$AUDIENCE" --key-dir .dev-issuer &
issuer_pid=$!
wait_for "$issuer_pid" "${ISSUER_URL}/.well-known/openid-configuration" "the development issuer" ISSUER_PORT

if [ -n "$MCP_DEMO" ]; then
  RESOURCE="${GATEWAY_URL}/mcp"
  node tools/mcp-demo-server.mjs --port "$MCP_PORT" --host 127.0.0.1 &
  mcp_pid=$!
  wait_for "$mcp_pid" "http://127.0.0.1:${MCP_PORT}/mcp" "the demo MCP server" MCP_PORT
  mint() { node tools/dev-issuer.mjs mint --issuer-url "$ISSUER_URL" --audience "$RESOURCE" --scope "$1"; }
  user_token=$(mint "mcp:use")
  admin_token=$(mint "mcp:use notes:delete")
  resources="[{\"resource\":\"${RESOURCE}\",\"resource_name\":\"Gateway demo MCP server\"}]"
  routes="[{\"path\":\"/mcp\",\"auth\":\"required\",\"resource\":\"${RESOURCE}\",\"scopes\":[\"mcp:use\"],\"jsonrpc\":[{\"method\":\"tools/call\",\"name\":\"delete_note\",\"scopes\":[\"notes:delete\"]}]}]"
  call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_note","arguments":{"id":"1"}}}'
  cat <<BANNER

  MCP demo: gateway ${GATEWAY_URL}/mcp -> demo MCP server http://127.0.0.1:${MCP_PORT}/mcp
  Resource ${RESOURCE}; authorization server ${ISSUER_URL}/ (approves everyone: development only).
  Tokens for the resource, valid for an hour: USER_TOKEN (mcp:use), ADMIN_TOKEN (mcp:use notes:delete):

    USER_TOKEN=${user_token}
    ADMIN_TOKEN=${admin_token}

  Discovery (RFC 9728), then the challenge that points an MCP client to it:
    curl -s ${GATEWAY_URL}/.well-known/oauth-protected-resource/mcp
    curl -si -X POST ${GATEWAY_URL}/mcp -H 'Content-Type: application/json' -d '${call}' | grep -i www-authenticate

  delete_note refused for USER_TOKEN (403 insufficient_scope, never reaches the MCP server), allowed for ADMIN_TOKEN:
    curl -si -X POST ${GATEWAY_URL}/mcp -H "Authorization: Bearer \$USER_TOKEN" -H 'Content-Type: application/json' \\
      -H 'Accept: application/json, text/event-stream' -d '${call}'
    curl -si -X POST ${GATEWAY_URL}/mcp -H "Authorization: Bearer \$ADMIN_TOKEN" -H 'Content-Type: application/json' \\
      -H 'Accept: application/json, text/event-stream' -d '${call}'

  An MCP client pointed at ${GATEWAY_URL}/mcp signs in on its own (registration, code + PKCE, resource).

BANNER
  npx wrangler dev --ip 127.0.0.1 --port "$GATEWAY_PORT" \
    --var "AUTH0_DOMAIN:${ISSUER_URL}" --var "AUTH0_AUDIENCE:${AUDIENCE}" \
    --var "ORIGIN_URL:http://127.0.0.1:${MCP_PORT}" --var "RESOURCES:${resources}" --var "ROUTES:${routes}" "$@"
  exit $?
fi

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
