/**
 * A timing wrapper around an {@link Engine} for the benchmarks (P3, P4): every call is recorded
 * with `performance.now()` at call and at settle (ms), and each container's life is gathered into
 * one timeline — create, attach, start, first output line, wait, the inspect after the exit —
 * so a benchmark can say where a launch's time goes and where a slot sits idle. The engine's
 * behaviour is unchanged (it only forwards).
 */
import type { Readable } from 'node:stream';
import type { CreateSpec, Engine } from '../src/core/engine';

/** One Engine call: method, the container it was about (id or name, when known), call and settle times (performance.now(), ms). */
export interface EngineCall {
  method: string;
  /** The container id (the created id for `create`), or the name/id argument. */
  target?: string;
  /** The create spec's labels (create only). */
  labels?: Record<string, string>;
  calledAt: number;
  settledAt?: number;
  failed?: boolean;
}

/** One container's timeline (performance.now(), ms); a phase not reached is undefined. */
export interface ContainerTimeline {
  id: string;
  labels: Record<string, string>;
  createCalled: number;
  created?: number;
  attached?: number;
  startCalled?: number;
  started?: number;
  /** The first bytes of output arrived on the host. */
  firstOutput?: number;
  /** wait() resolved: Docker reported the exit. */
  exited?: number;
  /** The first inspect called after the exit settled. */
  inspected?: number;
}

export interface TimedEngine {
  engine: Engine;
  calls: EngineCall[];
  /** Timelines by container id, in create order. */
  timelines(): ContainerTimeline[];
  /** Forgets every call recorded so far. */
  reset(): void;
}

/** Wraps `inner`: returns the recording engine and its records. */
export function timedEngine(inner: Engine): TimedEngine {
  let calls: EngineCall[] = [];
  const streamOf = new WeakMap<object, string>();
  const firstOutput = new Map<string, number>();
  const handler: ProxyHandler<Engine> = {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const method = String(prop);
      return (...args: unknown[]) => {
        if (method === 'demux') {
          const id = streamOf.get(args[0] as object);
          const out = (value as (s: Readable) => ReturnType<Engine['demux']>).apply(target, [args[0] as Readable]);
          if (id) {
            const mark = () => {
              if (!firstOutput.has(id)) firstOutput.set(id, performance.now());
            };
            out.stdout.once('data', mark);
            out.stderr.once('data', mark);
          }
          return out;
        }
        const call: EngineCall = { method, calledAt: performance.now() };
        if (method === 'create') call.labels = (args[0] as CreateSpec).labels;
        else if (typeof args[0] === 'string') call.target = args[0];
        calls.push(call);
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) {
          call.settledAt = performance.now();
          return result;
        }
        return result.then(
          (r: unknown) => {
            call.settledAt = performance.now();
            if (method === 'create') call.target = r as string;
            if (method === 'attach' && call.target) streamOf.set(r as object, call.target);
            return r;
          },
          (e: unknown) => {
            call.settledAt = performance.now();
            call.failed = true;
            throw e;
          },
        );
      };
    },
  };
  const engine = new Proxy(inner, handler);
  return {
    engine,
    get calls() {
      return calls;
    },
    reset() {
      calls = [];
      firstOutput.clear();
    },
    timelines() {
      const byId = new Map<string, ContainerTimeline>();
      for (const c of calls) {
        if (c.method === 'create' && c.target && !c.failed) byId.set(c.target, { id: c.target, labels: c.labels ?? {}, createCalled: c.calledAt, created: c.settledAt });
      }
      for (const c of calls) {
        const t = c.target ? byId.get(c.target) : undefined;
        if (!t || c.failed) continue;
        if (c.method === 'attach') t.attached ??= c.settledAt;
        else if (c.method === 'start') {
          t.startCalled ??= c.calledAt;
          t.started ??= c.settledAt;
        } else if (c.method === 'wait') t.exited ??= c.settledAt;
        else if (c.method === 'inspect' && t.exited !== undefined && c.calledAt >= t.exited) t.inspected ??= c.settledAt;
      }
      for (const t of byId.values()) t.firstOutput = firstOutput.get(t.id);
      return [...byId.values()];
    },
  };
}
