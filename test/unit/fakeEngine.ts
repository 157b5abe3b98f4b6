import type { ClaimEngine } from '../../src/core/claim';
import type { ContainerInfo, ContainerStatus } from '../../src/core/engine';
import { NameConflictError } from '../../src/core/errors';
import { LABEL_MANAGED, LABEL_PERSONA, LABEL_WORKSPACE } from '../../src/core/labels';

/** The workspace id the unit tests act as. */
export const WS = 'ws-0123456789ab';

/**
 * A container as Docker's inspect would describe it: managed by Borg, in workspace {@link WS},
 * persona "dev". `overrides` changes any field; `managed: false` also drops the labels.
 */
export function container(name: string, overrides: Partial<ContainerInfo> = {}): ContainerInfo {
  const managed = overrides.managed ?? true;
  const workspace = 'workspace' in overrides ? overrides.workspace : WS;
  const labels: Record<string, string> = managed ? { [LABEL_MANAGED]: 'true', [LABEL_PERSONA]: 'dev', ...(workspace !== undefined ? { [LABEL_WORKSPACE]: workspace } : {}) } : {};
  return {
    id: `id-${name}`,
    name,
    status: 'exited',
    exitCode: 0,
    oomKilled: false,
    createdAt: 1_700_000_000_000,
    image: 'borg-agent-demo:latest',
    labels,
    managed,
    persona: managed ? 'dev' : undefined,
    workspace: managed ? workspace : undefined,
    inspected: true,
    ...overrides,
  };
}

/** Shorthand for a container in `status` (exit code only for exited/dead). */
export function inState(name: string, status: ContainerStatus, extra: Partial<ContainerInfo> = {}): ContainerInfo {
  const stopped = status === 'exited' || status === 'dead';
  return container(name, { status, exitCode: stopped ? 0 : undefined, ...extra });
}

export type EngineCall =
  | { op: 'list'; filter: { managedOnly?: boolean; workspace?: string; namePrefix?: string } }
  | { op: 'inspect'; nameOrId: string }
  | { op: 'remove'; id: string; force: boolean }
  | { op: 'rename'; id: string; name: string };

/**
 * An in-memory Docker for the claim step. Containers are kept by name with their full (inspect)
 * view; `list` returns what a real list shows (no OOM flag, not inspected, and no exit code for
 * names in {@link listHidesExitCode}). Every call is recorded in {@link calls}; failures are
 * injected with {@link failList}, {@link failInspect} and {@link failRemove}.
 */
export class FakeEngine implements ClaimEngine {
  readonly containers = new Map<string, ContainerInfo>();
  readonly calls: EngineCall[] = [];
  /** Names whose list row does not carry the exit code (as when Docker's status text is not "Exited (N)"). */
  readonly listHidesExitCode = new Set<string>();
  /** Remove failures by container id. */
  readonly failRemove = new Map<string, Error>();
  /** Rename failures by container id. */
  readonly failRename = new Map<string, Error>();
  failList: Error | undefined;
  failInspect: Error | undefined;

  constructor(...initial: ContainerInfo[]) {
    for (const c of initial) this.add(c);
  }

  add(c: ContainerInfo): this {
    this.containers.set(c.name, c);
    return this;
  }

  async list(filter: { managedOnly?: boolean; workspace?: string; namePrefix?: string } = {}): Promise<ContainerInfo[]> {
    this.calls.push({ op: 'list', filter });
    if (this.failList) throw this.failList;
    return [...this.containers.values()]
      .filter((c) => !filter.namePrefix || c.name.startsWith(filter.namePrefix))
      .filter((c) => !(filter.managedOnly || filter.workspace) || c.managed)
      .filter((c) => !filter.workspace || c.workspace === filter.workspace)
      .map((c) => ({
        ...c,
        exitCode: this.listHidesExitCode.has(c.name) ? undefined : c.exitCode,
        oomKilled: undefined,
        startedAt: undefined,
        finishedAt: undefined,
        inspected: false,
      }));
  }

  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    this.calls.push({ op: 'inspect', nameOrId });
    if (this.failInspect) throw this.failInspect;
    const c = this.containers.get(nameOrId) ?? [...this.containers.values()].find((x) => x.id === nameOrId);
    return c && { ...c, inspected: true };
  }

  async remove(id: string, opts: { force?: boolean } = {}): Promise<void> {
    this.calls.push({ op: 'remove', id, force: opts.force ?? false });
    const failure = this.failRemove.get(id);
    if (failure) throw failure;
    for (const [name, c] of this.containers) if (c.id === id) this.containers.delete(name);
  }

  async rename(id: string, name: string): Promise<boolean> {
    this.calls.push({ op: 'rename', id, name });
    const failure = this.failRename.get(id);
    if (failure) throw failure;
    const entry = [...this.containers].find(([, c]) => c.id === id);
    if (!entry) return false;
    if (this.containers.has(name)) throw new NameConflictError(`The name ${name} is already in use.`);
    this.containers.delete(entry[0]);
    this.containers.set(name, { ...entry[1], name });
    return true;
  }

  /** The recorded calls of one kind. */
  callsOf<K extends EngineCall['op']>(op: K): Array<Extract<EngineCall, { op: K }>> {
    return this.calls.filter((c): c is Extract<EngineCall, { op: K }> => c.op === op);
  }
}
