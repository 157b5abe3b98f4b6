/**
 * A scripted Anthropic Messages API for running the real Claude Code CLI offline inside the
 * Claude image: a host folder (mounted read-only at `/opt/upstream`) holding `claude`, a Node
 * script used as `BORG_CLAUDE_BIN`. It starts an HTTP server on 127.0.0.1 inside the container,
 * then runs the real `/usr/local/bin/claude` with the arguments and stdin borg-agent gave it and
 * `ANTHROPIC_BASE_URL` pointing at that server (Claude Code 2.1.x honours it; see
 * /work/shared/harness.md), `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1` and
 * `CLAUDE_CODE_MAX_RETRIES=0` (the CLI's own retry setting, so a 429 ends the run at once).
 *
 * `UPSTREAM_STATUS` (container env) picks the answer to every request: an HTTP status (401, 403,
 * 429, 529, …) with the API's error body for it, or `hang` (never answers). Each request is
 * logged on stderr as `upstream: POST /v1/messages?...`. Signals are handed to claude.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where {@link scriptedUpstreamDir} is to be mounted, and the `BORG_CLAUDE_BIN` that runs it. */
export const UPSTREAM_MOUNT = '/opt/upstream';
export const UPSTREAM_BIN = `${UPSTREAM_MOUNT}/claude`;

const SCRIPT = `#!/usr/bin/env node
'use strict';
const http = require('node:http');
const os = require('node:os');
const { spawn } = require('node:child_process');
const mode = process.env.UPSTREAM_STATUS || '401';
// The API's error bodies (https://docs.anthropic.com/en/api/errors).
const BODIES = {
  400: { type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  429: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    process.stderr.write('upstream: ' + req.method + ' ' + req.url + '\\n');
    if (mode === 'hang') return;
    const status = Number(mode);
    const headers = { 'content-type': 'application/json', 'request-id': 'req_borg_test' };
    if (status === 429) headers['retry-after'] = '1';
    res.writeHead(status, headers);
    res.end(JSON.stringify({ type: 'error', error: BODIES[status] || { type: 'api_error', message: 'scripted ' + status } }));
  });
});
server.listen(0, '127.0.0.1', () => {
  const env = { ...process.env, ANTHROPIC_BASE_URL: 'http://127.0.0.1:' + server.address().port, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', CLAUDE_CODE_MAX_RETRIES: '0' };
  const child = spawn('/usr/local/bin/claude', process.argv.slice(2), { stdio: 'inherit', env });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code !== null ? code : 128 + (os.constants.signals[signal] || 1)));
});
`;

/** Writes the wrapper into a new 0755 temp folder and returns it; `defer` registers its removal. */
export function scriptedUpstreamDir(defer: (fn: () => void) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-upstream-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'claude'), SCRIPT, { mode: 0o755 });
  return dir;
}
