import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ContainerInfo, ContainerStatus } from '../../src/core/engine';
import { RefusedError } from '../../src/core/errors';
import { checkVerb, isCrashed, isStopped, needsInspect, stateWords, Verb, VERBS, verbsFor } from '../../src/core/verbs';
import { container } from './fakeEngine';

const NAME = 'borg-dev-0';
const STATUSES: ContainerStatus[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];
const OOM: Array<boolean | undefined> = [false, true, undefined];
const EXIT_CODES = [0, 1, 137, -1];

/** Every status × OOM flag × exit code (exit codes only for exited/dead). */
function everyContainer(): ContainerInfo[] {
  const out: ContainerInfo[] = [];
  for (const status of STATUSES) {
    const stopped = status === 'exited' || status === 'dead';
    for (const oomKilled of OOM) {
      for (const exitCode of stopped ? EXIT_CODES : [undefined]) out.push(container(NAME, { status, exitCode, oomKilled }));
    }
  }
  return out;
}

const describeC = (c: ContainerInfo) => `${c.status}${c.exitCode === undefined ? '' : ` ${c.exitCode}`}, oomKilled ${c.oomKilled}`;

/** The table as the issue states it, written out independently of verbs.ts. */
function expected(c: ContainerInfo): Verb[] {
  if (['running', 'paused', 'restarting'].includes(c.status)) return ['stop', 'logs'];
  if (c.status === 'created') return ['reclaim', 'remove', 'logs'];
  if (c.status === 'dead') return ['hardline', 'remove', 'logs'];
  if (c.status === 'exited') {
    // OOM-killed with any exit code is a crash; exit 0 is clean only when not OOM-killed.
    return c.oomKilled === true || c.exitCode !== 0 ? ['hardline', 'remove', 'logs'] : ['reclaim', 'remove', 'logs'];
  }
  return ['logs']; // removing
}

describe('verbsFor (the verb table)', () => {
  for (const c of everyContainer()) {
    it(`${describeC(c)} → ${expected(c).join(', ')}`, () => {
      assert.deepEqual(verbsFor(c), expected(c));
    });
  }

  it('offers nothing on a container that is not ours, whatever its state', () => {
    for (const c of everyContainer()) assert.deepEqual(verbsFor({ ...c, managed: false }), [], describeC(c));
  });

  it('offers hardline, not reclaim, on a container whose child was OOM-killed while it exited 0', () => {
    const c = container(NAME, { exitCode: 0, oomKilled: true });
    assert.ok(verbsFor(c).includes('hardline'));
    assert.ok(!verbsFor(c).includes('reclaim'));
  });

  it('offers hardline on a dead container (the menu and the command agree)', () => {
    assert.ok(verbsFor(container(NAME, { status: 'dead', exitCode: 0 })).includes('hardline'));
  });

  it('lists verbs in the fixed VERBS order', () => {
    for (const c of everyContainer()) {
      const v = verbsFor(c);
      assert.deepEqual(
        v,
        [...v].sort((a, b) => VERBS.indexOf(a) - VERBS.indexOf(b)),
        describeC(c),
      );
    }
  });
});

describe('checkVerb agrees with verbsFor', () => {
  for (const c of [...everyContainer(), ...everyContainer().map((x) => ({ ...x, managed: false }))]) {
    for (const verb of VERBS) {
      const fits = verbsFor(c).includes(verb);
      it(`${verb} on ${c.managed ? '' : 'a foreign '}${describeC(c)}: ${fits ? 'allowed' : 'refused'}`, () => {
        if (fits) checkVerb(verb, c, NAME);
        else
          assert.throws(
            () => checkVerb(verb, c, NAME),
            (e: unknown) => e instanceof RefusedError && e.message.includes(NAME),
          );
      });
    }
  }

  it('refuses every verb on a name with no container, saying how to see the agents', () => {
    for (const verb of VERBS) assert.throws(() => checkVerb(verb, undefined, NAME), /There is no container named borg-dev-0.*Refresh/);
  });

  it('refuses reclaim of an OOM-killed exit-0 container and points at Hardline', () => {
    assert.throws(() => checkVerb('reclaim', container(NAME, { exitCode: 0, oomKilled: true }), NAME), /crashed \(OOM-killed \(exit 0\)\).*Use Hardline/);
  });
});

describe('a run Borg ended (endedBy, from its own records)', () => {
  const stopped = (extra: Partial<ContainerInfo> = {}) => container(NAME, { status: 'exited', exitCode: 143, oomKilled: false, endedBy: 'stopped', ...extra });

  it('a user-stopped agent (exit 143) offers reclaim and remove, never hardline', () => {
    assert.deepEqual(verbsFor(stopped()), ['reclaim', 'remove', 'logs']);
    assert.equal(isStopped(stopped()), true);
    assert.equal(isCrashed(stopped()), false);
    assert.equal(stateWords(stopped()), 'stopped (exit 143)');
    assert.throws(() => checkVerb('hardline', stopped(), NAME), /was stopped by Borg \(stopped \(exit 143\)\): hardline is for crashed agents\. Use Reclaim/);
    checkVerb('reclaim', stopped(), NAME);
  });

  it("the same exit 143 without Borg's record is a crash (the agent cannot claim it was stopped)", () => {
    const c = stopped({ endedBy: undefined });
    assert.deepEqual(verbsFor(c), ['hardline', 'remove', 'logs']);
    assert.equal(isStopped(c), false);
    assert.throws(() => checkVerb('reclaim', c, NAME), /crashed \(exited 143\)/);
  });

  it('OOM-killed wins over a stop: the run was killed for memory, hardline it', () => {
    const c = stopped({ exitCode: 137, oomKilled: true });
    assert.deepEqual(verbsFor(c), ['hardline', 'remove', 'logs']);
    assert.equal(stateWords(c), 'OOM-killed (exit 137)');
  });

  it('a watchdog stop reads "timed out" and stays crash-like (hardline)', () => {
    const c = stopped({ endedBy: 'timed-out' });
    assert.deepEqual(verbsFor(c), ['hardline', 'remove', 'logs']);
    assert.equal(stateWords(c), 'timed out (exit 143)');
    assert.equal(isCrashed(c), true);
  });

  it('only an exited container can be stopped-by-Borg: a running one with a stale record is live', () => {
    const c = container(NAME, { status: 'running', endedBy: 'stopped' });
    assert.deepEqual(verbsFor(c), ['stop', 'logs']);
    assert.equal(isStopped(c), false);
  });
});

describe('stateWords and needsInspect', () => {
  it('names an OOM-killed container with its exit code', () => {
    assert.equal(stateWords(container(NAME, { exitCode: 137, oomKilled: true })), 'OOM-killed (exit 137)');
    assert.equal(stateWords(container(NAME, { exitCode: 0, oomKilled: true })), 'OOM-killed (exit 0)');
    assert.equal(stateWords(container(NAME, { exitCode: 3, oomKilled: false })), 'exited 3');
    assert.equal(stateWords(container(NAME, { status: 'running', exitCode: undefined })), 'running');
  });

  it('asks for an inspect exactly when the container ended and its OOM flag is unknown', () => {
    for (const c of everyContainer()) {
      assert.equal(needsInspect(c), (c.status === 'exited' || c.status === 'dead') && c.oomKilled === undefined, describeC(c));
    }
  });
});

describe("package.json's Agents menus read the verb table", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: Record<string, Array<{ command: string; when: string }>> };
  };
  // Container rows only: the rows under Files (containerFilesNodes.ts) have their own contextValues.
  const agentItems = pkg.contributes.menus['view/item/context'].filter((m) => m.when.startsWith('view == borg.agents') && !m.when.includes('viewItem == borg.container'));
  const VERB_OF: Record<string, Verb> = { 'borg.hardline': 'hardline', 'borg.reclaim': 'reclaim', 'borg.stop': 'stop', 'borg.remove': 'remove', 'borg.showLogs': 'logs' };

  it('shows each verb command only where its verb is in the contextValue', () => {
    for (const m of agentItems) {
      const verb = VERB_OF[m.command];
      if (verb) assert.equal(m.when, `view == borg.agents && viewItem =~ /;${verb};/`, m.command);
      else if (m.command === 'borg.cancelLaunch') assert.equal(m.when, 'view == borg.agents && viewItem =~ /^borg\\.queued;.*cancel;/', m.command);
      else assert.equal(m.when, 'view == borg.agents && viewItem =~ /^borg\\.agent;/', m.command);
    }
    assert.deepEqual(new Set(agentItems.map((m) => VERB_OF[m.command]).filter(Boolean)), new Set(VERBS));
  });
});

describe("package.json's Files menus", () => {
  it('offers Compare with Worktree on a file of a task agent only', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
      contributes: { menus: Record<string, Array<{ command: string; when: string }>> };
    };
    const compare = pkg.contributes.menus['view/item/context'].filter((m) => m.command === 'borg.compareWithWorktree');
    assert.ok(compare.length > 0);
    for (const m of compare) assert.equal(m.when, 'view == borg.agents && viewItem == borg.containerFile;task');
  });
});
