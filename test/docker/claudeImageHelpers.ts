/**
 * Shared by the tests of the Claude image (claudeImage.test.ts, gatewayForwarder.test.ts): make
 * sure the image is current, and read what a raw container printed.
 */
import type Docker from 'dockerode';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { docker } from './helpers';

export const CLAUDE_IMAGE = 'borg-agent-claude:latest';
const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUILD_SCRIPT = path.join(ROOT, 'scripts', 'build-claude-image.mjs');

/** Runs the build script (skips quickly when the image is current). Pins the version of an existing image so no registry is needed. */
export async function ensureClaudeImage(): Promise<void> {
  let version: string | undefined;
  try {
    version = (await docker.getImage(CLAUDE_IMAGE).inspect()).Config?.Labels?.['borg.claude.version'];
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode !== 404) throw e;
  }
  const args = [BUILD_SCRIPT, ...(version ? ['--claude-version', version] : [])];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`build-claude-image.mjs exited ${code}:\n${stderr}`);
  assert.equal(stdout.trim(), CLAUDE_IMAGE);
  console.error(stderr.trim().split('\n').pop());
}

/** Splits a non-TTY container log buffer (8-byte frame headers) into stdout and stderr. */
export function demux(buf: Buffer): { stdout: string; stderr: string } {
  const parts: Buffer[][] = [[], [], []];
  let i = 0;
  while (i + 8 <= buf.length) {
    const kind = buf[i];
    const len = buf.readUInt32BE(i + 4);
    parts[kind === 2 ? 2 : 1].push(buf.subarray(i + 8, i + 8 + len));
    i += 8 + len;
  }
  return { stdout: Buffer.concat(parts[1]).toString('utf8'), stderr: Buffer.concat(parts[2]).toString('utf8') };
}

/** Parsed JSON object lines (other lines, e.g. a borg-agent warning on stderr, are skipped). */
export function jsonLines(lines: string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const l of lines) {
    try {
      const v = JSON.parse(l);
      if (v && typeof v === 'object') out.push(v as Record<string, unknown>);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/**
 * Creates (not starts) a raw container of the Claude image named `name` with stdin open for one
 * write (StdinOnce) and every stream attachable, `AutoRemove` off (name it with the harness
 * prefix so cleanupAll removes it).
 */
export function createRaw(name: string, opts: { env?: string[]; binds?: string[]; network?: string }): Promise<Docker.Container> {
  return docker.createContainer({
    name,
    Image: CLAUDE_IMAGE,
    Env: opts.env,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { AutoRemove: false, Binds: opts.binds, ...(opts.network ? { NetworkMode: opts.network } : {}) },
  });
}
