import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IDisposable } from './disposable';
import { InvalidInputError } from './errors';

/**
 * The Docker CLI's contexts, read the way the CLI reads them (docker/cli `cli/context/store`):
 * - the current context is `DOCKER_CONTEXT`, else `currentContext` in `config.json` of the
 *   config folder (`DOCKER_CONFIG`, default `~/.docker`); none, or `default`, means no context
 *   (the default socket);
 * - a context `NAME` lives in `contexts/meta/<sha256(NAME) hex>/meta.json`, whose
 *   `Endpoints.docker.Host` is the daemon's address and `Endpoints.docker.SkipTLSVerify` turns
 *   off the server's certificate check;
 * - its TLS material is `contexts/tls/<sha256(NAME) hex>/docker/{ca,cert,key}.pem` (each optional).
 * colima, rootless Docker and Docker Desktop set a context; dockerode alone ignores them.
 */
export interface DockerContext {
  name: string;
  /** Where the name came from: `DOCKER_CONTEXT`, or the config.json file that names it. */
  chosenBy: string;
  /** The daemon's address as written in the context (`unix:///…`, `tcp://…`). */
  host: string;
  skipTlsVerify: boolean;
  /** The context's TLS files that exist (contents). */
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** The meta.json file read. */
  metaFile: string;
}

/** The variables the context lookup reads (a parameter for tests; `process.env` by default). */
export type ContextEnv = Partial<Record<'DOCKER_CONTEXT' | 'DOCKER_CONFIG' | 'HOME', string>>;

/** The Docker CLI's config folder: `DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(env: ContextEnv = process.env): string {
  return env.DOCKER_CONFIG?.trim() || path.join(env.HOME?.trim() || os.homedir(), '.docker');
}

/** The folder name of context `name` under `contexts/meta` and `contexts/tls` (the CLI's digest). */
export function contextDigest(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/**
 * The name of the current context and what chose it, or undefined when none is set or it is
 * `default` (then the CLI uses DOCKER_HOST or the default socket).
 * @throws InvalidInputError when config.json exists but is not JSON (naming the file).
 */
export function currentContextName(env: ContextEnv = process.env): { name: string; chosenBy: string } | undefined {
  const fromEnv = env.DOCKER_CONTEXT?.trim();
  if (fromEnv) return fromEnv === 'default' ? undefined : { name: fromEnv, chosenBy: 'DOCKER_CONTEXT' };
  const file = path.join(dockerConfigDir(env), 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined; // no config file: no context (the CLI's behaviour too)
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(`The Docker config file ${file} is not valid JSON (${(e as Error).message}). Fix it, or run \`docker context use default\`.`, { cause: e });
  }
  const name = (parsed as { currentContext?: unknown } | null)?.currentContext;
  if (typeof name !== 'string' || !name.trim() || name.trim() === 'default') return undefined;
  return { name: name.trim(), chosenBy: file };
}

/**
 * The current Docker context with its endpoint, or undefined when there is none (or it is
 * `default`).
 * @throws InvalidInputError when config.json is not JSON, or the context's meta.json is missing,
 *   is not JSON or has no `Endpoints.docker.Host` — the message names the file and what to do.
 */
export function readDockerContext(env: ContextEnv = process.env): DockerContext | undefined {
  const current = currentContextName(env);
  if (!current) return undefined;
  return readNamedContext(current.name, current.chosenBy, env);
}

/**
 * The Docker context `name` (not necessarily the current one; a `borg.docker.hosts` entry may
 * name it), read as {@link readDockerContext} reads the current one. `chosenBy` says who named
 * it, for messages (`borg.docker.hosts`).
 * @throws InvalidInputError as {@link readDockerContext}.
 */
export function readNamedContext(name: string, chosenBy: string, env: ContextEnv = process.env): DockerContext {
  const dir = dockerConfigDir(env);
  const digest = contextDigest(name);
  const metaFile = path.join(dir, 'contexts', 'meta', digest, 'meta.json');
  const fix = `Run \`docker context ls\` and \`docker context use <name>\` (or \`docker context use default\`), or set borg.dockerHost.`;
  let text: string;
  try {
    text = fs.readFileSync(metaFile, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(e as Error).message})`;
    throw new InvalidInputError(`The Docker context "${name}" (from ${chosenBy}) is not defined: ${metaFile} ${why}. ${fix}`, { cause: e });
  }
  let meta: { Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } } };
  try {
    meta = JSON.parse(text) as typeof meta;
  } catch (e) {
    throw new InvalidInputError(`The Docker context "${name}" cannot be read: ${metaFile} is not valid JSON (${(e as Error).message}). ${fix}`, { cause: e });
  }
  const docker = meta?.Endpoints?.docker;
  if (typeof docker?.Host !== 'string' || !docker.Host.trim()) {
    throw new InvalidInputError(`The Docker context "${name}" names no Docker address: ${metaFile} has no Endpoints.docker.Host. ${fix}`);
  }
  const tlsDir = path.join(dir, 'contexts', 'tls', digest, 'docker');
  const tls: DockerContext['tls'] = {};
  for (const part of ['ca', 'cert', 'key'] as const) {
    try {
      tls[part] = fs.readFileSync(path.join(tlsDir, `${part}.pem`));
    } catch {
      // absent: the context has no such file
    }
  }
  return { name, chosenBy, host: docker.Host.trim(), skipTlsVerify: docker.SkipTLSVerify === true, tls, metaFile };
}

/**
 * Watches what decides the current context — the config folder (config.json is replaced by a
 * rename when `docker context use` writes it, so the folder is watched, not the file) and
 * `contexts/meta` — and calls `onChange` once per burst, `debounceMs` after the last change.
 * Folders that do not exist are not watched (creating `~/.docker` later needs a reload or Retry).
 */
export function watchDockerContext(onChange: () => void, env: ContextEnv = process.env, debounceMs = 300): IDisposable {
  const dir = dockerConfigDir(env);
  const watchers: fs.FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
  };
  const watch = (target: string, recursive: boolean, only?: string) => {
    try {
      const w = fs.watch(target, { recursive, persistent: false }, (_event, file) => {
        if (!only || !file || String(file) === only) fire();
      });
      w.on('error', () => undefined); // the folder went away: nothing more to watch
      watchers.push(w);
    } catch {
      // missing folder, or recursive watching unsupported here
    }
  };
  watch(dir, false, 'config.json');
  watch(path.join(dir, 'contexts', 'meta'), true);
  return {
    dispose: () => {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
