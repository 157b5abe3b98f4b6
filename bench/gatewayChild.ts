/**
 * The gateway side of P10 (bench/gateway.ts): a {@link Gateway} for one bench run, forwarding to
 * the scripted upstream, with its own database. `startGateway` runs it in the calling process;
 * run as a script (`node out/bench/gatewayChild.js UPSTREAM_PORT`, what `forkGateway` does) it
 * serves in a child process, as the gateway runs in the extension host apart from the agents and
 * the model, and talks to its parent over IPC:
 *   child → parent  `{ ready: { token, socketPath } }` once it listens;
 *   parent → child  `'usage'` → `{ usage: Metered }`; `'close'` → `{ closed: true }`, then it exits.
 * The child's database is in $BORG_BENCH_DIR (the parent's scratch folder); it exits when the
 * parent disconnects (closed, or the bench process died).
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { DEFAULT_GATEWAY_SETTINGS, Gateway } from '../src/core/gateway/gateway';
import type { RunRef } from '../src/core/gateway/upstream';
import { Store } from '../src/core/store';

/** The run the bench's requests belong to. */
export const BENCH_RUN: RunRef = { agent: 'bench-worker-1', persona: 'worker', startedAt: Date.now() };

/** What the gateway metered for {@link BENCH_RUN}, and how many MaxListenersExceededWarnings its process had. */
export interface Metered {
  requests: number;
  outputTokens: number;
  listenerWarnings: number;
}

/** A running bench gateway; `close()` closes it and its database. */
export interface GatewayHandle {
  /** The run's gateway token (x-api-key). */
  token: string;
  /** The run's UNIX socket. */
  socketPath: string;
  usage(): Promise<Metered>;
  close(): Promise<void>;
}

type ChildMessage = { ready: { token: string; socketPath: string } } | { usage: Metered } | { closed: true };

/** A gateway for {@link BENCH_RUN} in this process, forwarding to `http://127.0.0.1:<upstreamPort>` with the key `sk-bench`; its database and sockets in `dir`. */
export async function startGateway(upstreamPort: number, dir: string): Promise<GatewayHandle> {
  const leaks = countListenerWarnings();
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const gateway = new Gateway({
    store,
    root: dir,
    settings: () => ({ ...DEFAULT_GATEWAY_SETTINGS, upstream: `http://127.0.0.1:${upstreamPort}`, maxCostUsdPerTask: 0, maxCostUsdPerDay: 0 }),
    apiKey: async () => 'sk-bench',
  });
  const token = await gateway.open(BENCH_RUN);
  return {
    token,
    socketPath: path.join(gateway.folderOf(BENCH_RUN.agent), 'gateway.sock'),
    usage: async () => {
      const u = gateway.usageOf(BENCH_RUN);
      return { requests: u.requests, outputTokens: u.outputTokens, listenerWarnings: leaks() };
    },
    close: async () => {
      await gateway.close();
      await store.close();
    },
  };
}

/**
 * Counts this process's MaxListenersExceededWarnings instead of printing them (a forward that
 * left listeners on the response at each backpressure wait would pass the limit of 10 many times
 * in a 1 MB stream); other warnings print as usual.
 */
function countListenerWarnings(): () => number {
  let n = 0;
  const defaults = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name === 'MaxListenersExceededWarning') n++;
    else for (const l of defaults) l(w);
  });
  return () => n;
}

/** {@link startGateway} in a child process (this file run as a script), talked to over IPC; its database in `dir`. */
export async function forkGateway(upstreamPort: number, dir: string): Promise<GatewayHandle> {
  const child = fork(__filename, [String(upstreamPort)], { env: { ...process.env, BORG_BENCH_DIR: dir }, execArgv: childExecArgv() });
  const next = <K extends string>(key: K): Promise<Extract<ChildMessage, Record<K, unknown>>> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: ChildMessage) => {
        if (!(key in m)) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<ChildMessage, Record<K, unknown>>);
      };
      const onExit = (code: number | null) => {
        child.off('message', onMessage);
        reject(new Error(`the gateway process exited (${code})`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  try {
    const { ready } = await next('ready');
    return {
      ...ready,
      usage: async () => {
        child.send('usage');
        return (await next('usage')).usage;
      },
      close: async () => {
        const exited = new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
        child.send('close');
        await next('closed');
        await exited;
      },
    };
  } catch (e) {
    child.kill();
    throw e;
  }
}

/** $BORG_BENCH_GATEWAY_PROF=DIR profiles the child (`--cpu-prof` into DIR). */
function childExecArgv(): string[] {
  const dir = process.env.BORG_BENCH_GATEWAY_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/** The child's side of {@link forkGateway}. */
async function serveChild(upstreamPort: number): Promise<void> {
  const send = (m: ChildMessage) => process.send?.(m);
  const gw = await startGateway(upstreamPort, process.env.BORG_BENCH_DIR ?? '');
  process.on('message', (m) => {
    void (async () => {
      if (m === 'usage') send({ usage: await gw.usage() });
      else if (m === 'close') {
        await gw.close();
        send({ closed: true });
        process.disconnect();
      }
    })();
  });
  process.once('disconnect', () => process.exit()); // closed, or the bench process died
  send({ ready: { token: gw.token, socketPath: gw.socketPath } });
}

if (require.main === module) {
  serveChild(Number(process.argv[2])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
