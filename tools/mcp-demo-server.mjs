#!/usr/bin/env node
// A small MCP server written with the official TypeScript SDK (streamable HTTP transport, stateless), to put
// behind the gateway as its origin (README: MCP servers, Try it locally). Tools: `echo` and `get_time`
// (harmless), `countdown` (streams one progress notification per step over SSE before its result) and
// `delete_note` (the one a gateway rule guards; it only forgets a note of this process). It trusts whoever
// reaches it: the gateway in front does the authorisation. Usable as a library (startMcpDemoServer) and as a CLI:
//
//   node tools/mcp-demo-server.mjs [--port 8789] [--host 127.0.0.1]
//
// The MCP endpoint is /mcp. Development only.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { isMain, readBody } from './common.mjs';

const MAX_RECORDED = 10_000;

/** One MCP server per request (stateless mode): the tools of the demo, acting on `notes`. */
function buildServer(notes, calls) {
  const server = new McpServer({ name: 'gateway-demo', version: '1.0.0' });
  const text = (t) => ({ content: [{ type: 'text', text: t }] });
  const record = (name, args) => {
    if (calls.length >= MAX_RECORDED) calls.shift();
    calls.push({ name, args });
  };
  server.registerTool('echo', {
    description: 'Answers with the text it is given.',
    inputSchema: { text: z.string() },
  }, async ({ text: t }) => {
    record('echo', { text: t });
    return text(t);
  });
  server.registerTool('get_time', { description: 'The current time (ISO 8601, UTC).' }, async () => {
    record('get_time', {});
    return text(new Date().toISOString());
  });
  server.registerTool('countdown', {
    description: 'Counts down from `from`, one progress notification per step (streamed over SSE), then answers.',
    inputSchema: { from: z.number().int().min(1).max(20) },
  }, async ({ from }, extra) => {
    record('countdown', { from });
    const progressToken = extra._meta?.progressToken;
    for (let i = from; i >= 1; i--) {
      if (progressToken !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress: from - i + 1, total: from, message: String(i) },
        });
      }
      await sleep(20);
    }
    return text('liftoff');
  });
  server.registerTool('delete_note', {
    description: 'Deletes a note (guarded by the gateway: needs the notes:delete scope in the demo).',
    inputSchema: { id: z.string() },
  }, async ({ id }) => {
    record('delete_note', { id });
    return text(notes.delete(id) ? `deleted ${id}` : `no note ${id}`);
  });
  return server;
}

/**
 * Starts the demo MCP server. Resolves once it listens. Returns {url (of /mcp), port, calls, messages,
 * requests, close()}: `calls` lists the tools run ({name, args}), `messages` every JSON-RPC message received
 * ({method, name}), `requests` every HTTP request ({method, path, headers}), oldest first, so that a test can
 * tell what reached the origin.
 * @param {{host?: string, port?: number}} [opts]
 */
export async function startMcpDemoServer({ host = '127.0.0.1', port = 0 } = {}) {
  const notes = new Map([['1', 'buy milk'], ['2', 'call the bank']]);
  const calls = [];
  const messages = [];
  const requests = [];
  const push = (list, v) => {
    if (list.length >= MAX_RECORDED) list.shift();
    list.push(v);
  };
  const json = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const httpServer = http.createServer(async (req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    push(requests, { method: req.method, path, headers: { ...req.headers } });
    if (path !== '/mcp') return json(res, 404, { error: 'not_found' });
    // Stateless: no session, so no standalone SSE stream (GET) and nothing to delete.
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return json(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
    }
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return json(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
    }
    for (const m of Array.isArray(body) ? body : [body]) {
      push(messages, { method: m?.method, name: m?.params?.name });
    }
    const server = buildServer(notes, calls);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    } catch (err) {
      if (!res.headersSent) json(res, 500, { jsonrpc: '2.0', error: { code: -32603, message: String(err.message) }, id: null });
    }
    return undefined;
  });
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, resolve);
  });
  const actualPort = httpServer.address().port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    port: actualPort,
    origin: `http://${hostPart}:${actualPort}`,
    url: `http://${hostPart}:${actualPort}/mcp`,
    calls,
    messages,
    requests,
    async close() {
      const done = new Promise((resolve) => httpServer.close(resolve));
      httpServer.closeAllConnections();
      await done;
    },
  };
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  if (args.includes('--help') || args.includes('-h')) {
    console.log('usage: node tools/mcp-demo-server.mjs [--port 8789] [--host 127.0.0.1]');
  } else {
    startMcpDemoServer({ host: opt('host', '127.0.0.1'), port: Number(opt('port', 8789)) }).then((s) => {
      console.log(`mcp-demo-server: ${s.url} (tools: echo, get_time, countdown, delete_note)`);
      const stop = () => s.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }, (err) => {
      console.error(`mcp-demo-server: ${err.message}`);
      process.exit(2);
    });
  }
}
