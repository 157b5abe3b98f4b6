import type { Engine } from '../../src/core/engine';

/**
 * Wraps an {@link Engine} in a Proxy that records the name of every method called on it — every
 * Docker call Borg makes goes through the Engine, so this counts them all (the idle tests).
 */
export function countingEngine<T extends Engine>(target: T): { engine: T; calls: string[] } {
  const calls: string[] = [];
  const engine = new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { engine, calls };
}
