import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { ContainerInfo, HostState } from '../../src/core/engine';
import type { QueuedLaunch } from '../../src/core/pipeline';
import { AgentsNode, buildAgentTree, containerRows, GROUP_BYS, GroupNode, groupByOf, treeSignature } from '../../src/vscode/agentTree';
import { container } from './fakeEngine';

const task = (n: string, t: string, phase: string, extra: Partial<ContainerInfo> = {}) => container(n, { ...extra, labels: { ...container(n).labels, 'borg.task': t, 'borg.phase': phase } });

/** The tree as text: groups with their children indented, rows by name. */
function outline(nodes: readonly AgentsNode[], depth = 0): string[] {
  const pad = '  '.repeat(depth);
  return nodes.flatMap((n) =>
    n.kind === 'group' ? [`${pad}${n.label}`, ...outline(n.children, depth + 1)] : n.kind === 'queued' ? [`${pad}queued ${n.launch.persona} (${n.ahead} ahead)`] : [`${pad}${n.name}`],
  );
}

const now = 1_700_000_000_000;
const rows: ContainerInfo[] = [
  task('b-test-1', '12', 'test', { createdAt: now + 5 }),
  task('b-worker-1', '12', 'impl', { createdAt: now + 4, status: 'running', exitCode: undefined }),
  task('b-manager-1', '12', 'spec', { createdAt: now + 1 }),
  task('b-manager-2', '9', 'spec', { createdAt: now }),
  container('b-qa-1', { createdAt: now + 6, exitCode: 143, endedBy: 'stopped' }),
  container('b-qa-2', { createdAt: now + 7, exitCode: 3 }),
];
const queued: QueuedLaunch[] = [
  { id: 1, persona: 'worker', queuedAt: now },
  { id: 2, persona: 'qa', queuedAt: now, task: '12', phase: 'qa' },
];

describe('the Agents tree', () => {
  it('by task: newest task first, phases in run order, queued launches with their phase, loose agents apart', () => {
    assert.deepEqual(outline(buildAgentTree(rows, queued, 'task')), [
      'Task #12',
      '  spec',
      '    b-manager-1',
      '  qa',
      '    queued qa (1 ahead)',
      '  impl',
      '    b-worker-1',
      '  test',
      '    b-test-1',
      'Task #9',
      '  spec',
      '    b-manager-2',
      'No task',
      '  queued worker (0 ahead)',
      '  b-qa-2',
      '  b-qa-1',
    ]);
  });

  it('by state: waiting, running, crashed, stopped, exited cleanly (empty groups left out)', () => {
    assert.deepEqual(outline(buildAgentTree(rows, queued, 'state')), [
      'Waiting for a slot',
      '  queued worker (0 ahead)',
      '  queued qa (1 ahead)',
      'Running',
      '  b-worker-1',
      'Crashed',
      '  b-qa-2',
      'Stopped',
      '  b-qa-1',
      'Exited cleanly',
      '  b-test-1',
      '  b-manager-1',
      '  b-manager-2',
    ]);
  });

  it('none: queued launches, then containers newest first', () => {
    assert.deepEqual(outline(buildAgentTree(rows, [], 'none')), ['b-qa-2', 'b-qa-1', 'b-test-1', 'b-worker-1', 'b-manager-1', 'b-manager-2']);
  });

  it('group ids cannot collide with container names (Docker names have no colon)', () => {
    const ids = buildAgentTree(rows, queued, 'task').flatMap(function ids(n: AgentsNode): string[] {
      return n.kind === 'group' ? [n.id, ...n.children.flatMap(ids)] : [];
    });
    assert.ok(ids.every((id) => id.startsWith('group:')));
    assert.equal(new Set(ids).size, ids.length);
  });

  it("the signature changes with a row's state or the rows, never with anything a repaint of one row shows", () => {
    const base = treeSignature(buildAgentTree(rows, queued, 'task'));
    assert.equal(
      treeSignature(
        buildAgentTree(
          rows.map((c) => ({ ...c })),
          queued,
          'task',
        ),
      ),
      base,
      'same facts, new objects',
    );
    const stopped = rows.map((c) => (c.name === 'b-worker-1' ? { ...c, status: 'exited' as const, exitCode: 143, endedBy: 'stopped' as const } : c));
    assert.notEqual(treeSignature(buildAgentTree(stopped, queued, 'task')), base);
    assert.notEqual(treeSignature(buildAgentTree(rows, queued.slice(1), 'task')), base, 'a launch left the queue');
    assert.notEqual(treeSignature(buildAgentTree(rows, queued, 'state')), base, 'regrouped');
    assert.equal(containerRows(buildAgentTree(rows, queued, 'task')).length, rows.length);
  });

  it('reads the setting, anything unknown as by task', () => {
    assert.equal(groupByOf('state'), 'state');
    assert.equal(groupByOf('none'), 'none');
    assert.equal(groupByOf('phase'), 'task');
    assert.equal(groupByOf(undefined), 'task');
  });
});

describe('the Agents tree across hosts', () => {
  const on = (host: string | undefined, c: ContainerInfo): ContainerInfo => ({ ...c, host });
  const hostState = (name: string, slots: number, up = true, error?: string): HostState => ({ name, address: `unix:///run/${name}.sock`, slots, up, ...(error ? { error } : {}) });
  const spread = rows.map((c, i) => on(i % 2 ? 'b' : 'a', c));
  const two = [hostState('a', 4), hostState('b', 2)];

  it('one host (one daemon, or every container on the same node): exactly the tree of one daemon', () => {
    for (const groupBy of GROUP_BYS) {
      const plain = buildAgentTree(rows, queued, groupBy);
      assert.deepEqual(buildAgentTree(rows, queued, groupBy, undefined), plain);
      assert.deepEqual(
        buildAgentTree(
          rows.map((c) => on('node-1', c)),
          queued,
          groupBy,
        ).map(strip),
        plain.map(strip),
        groupBy,
      );
      assert.deepEqual(buildAgentTree(rows, queued, groupBy, [hostState('a', 4)]), plain, 'an engine with one host');
    }
  });

  it('two hosts: one group per host in the engine order, the task grouping inside each, queued launches under "No host yet"', () => {
    assert.deepEqual(outline(buildAgentTree(spread, queued, 'task', two)), [
      'No host yet',
      '  Task #12',
      '    qa',
      '      queued qa (1 ahead)',
      '  No task',
      '    queued worker (0 ahead)',
      'a',
      '  Task #12',
      '    spec',
      '      b-manager-1',
      '    test',
      '      b-test-1',
      '  No task',
      '    b-qa-1',
      'b',
      '  Task #12',
      '    impl',
      '      b-worker-1',
      '  Task #9',
      '    spec',
      '      b-manager-2',
      '  No task',
      '    b-qa-2',
    ]);
  });

  it('groupBy state and none apply inside each host unchanged', () => {
    assert.deepEqual(outline(buildAgentTree(spread, [], 'state', two)), [
      'a',
      '  Stopped',
      '    b-qa-1',
      '  Exited cleanly',
      '    b-test-1',
      '    b-manager-1',
      'b',
      '  Running',
      '    b-worker-1',
      '  Crashed',
      '    b-qa-2',
      '  Exited cleanly',
      '    b-manager-2',
    ]);
    assert.deepEqual(outline(buildAgentTree(spread, [], 'none', two)), ['a', '  b-qa-1', '  b-test-1', '  b-manager-1', 'b', '  b-qa-2', '  b-worker-1', '  b-manager-2']);
  });

  it('Swarm nodes (no engine hosts): grouped when containers name two nodes, by name, unplaced tasks first', () => {
    const nodes = [on('node-2', rows[0]), on('node-1', rows[1]), on(undefined, rows[2])];
    assert.deepEqual(outline(buildAgentTree(nodes, [], 'none')), ['No node yet', '  b-manager-1', 'node-1', '  b-worker-1', 'node-2', '  b-test-1']);
  });

  it('a host that is down shows with no containers, with its state on the group; an up host with none shows empty', () => {
    const hosts = [hostState('a', 4), hostState('b', 2, false, 'connect ENOENT /run/b.sock'), hostState('c', 1)];
    const tree = buildAgentTree(
      rows.map((c) => on('a', c)),
      [],
      'none',
      hosts,
    );
    assert.deepEqual(
      tree.map((n) => (n.kind === 'group' ? [n.label, n.icon, n.children.length, n.host?.count.state?.up, n.host?.word] : n.kind)),
      [
        ['a', 'server', rows.length, true, 'Host'],
        ['b', 'warning', 0, false, 'Host'],
        ['c', 'server', 0, true, 'Host'],
      ],
    );
    const a = tree[0] as GroupNode;
    assert.equal(a.host?.count.running, 1);
    assert.equal(a.host?.count.agents, rows.length);
  });

  it('group ids are unique, stable across rebuilds and moves of other rows, and a host name cannot forge another id', () => {
    const hosts = [hostState('a', 4), hostState('a/task:12', 2), hostState('b', 2)];
    const tricky = rows.map((c, i) => on(i % 2 ? 'a/task:12' : 'a', c));
    const ids = groupIds(buildAgentTree(tricky, queued, 'task', hosts));
    assert.equal(new Set(ids).size, ids.length, ids.join(' '));
    assert.ok(ids.every((id) => id.startsWith('group:')));
    assert.ok(ids.includes('group:host:a/task:12:spec'), ids.join(' '));
    assert.ok(ids.includes('group:host:a%2Ftask%3A12/task:12:impl'), ids.join(' '));
    // The same facts give the same ids; a row finishing does not move its host group's id.
    assert.deepEqual(
      groupIds(
        buildAgentTree(
          tricky.map((c) => ({ ...c })),
          queued,
          'task',
          hosts,
        ),
      ),
      ids,
    );
    const done = tricky.map((c) => (c.status === 'running' ? { ...c, status: 'exited' as const, exitCode: 0 } : c));
    assert.ok(groupIds(buildAgentTree(done, queued, 'task', hosts)).includes('group:host:a%2Ftask%3A12'));
  });

  it('rows show their host when grouped by host, never with one host', () => {
    assert.ok(containerRows(buildAgentTree(spread, [], 'task', two)).every((r) => r.hostShown === true));
    assert.ok(
      containerRows(
        buildAgentTree(
          rows.map((c) => on('a', c)),
          [],
          'task',
        ),
      ).every((r) => r.hostShown === undefined),
    );
  });

  it('the signature changes when a host goes down or its slots change, not when nothing did', () => {
    const base = treeSignature(buildAgentTree(spread, [], 'task', two));
    assert.equal(
      treeSignature(
        buildAgentTree(
          spread,
          [],
          'task',
          two.map((h) => ({ ...h })),
        ),
      ),
      base,
    );
    assert.notEqual(treeSignature(buildAgentTree(spread, [], 'task', [two[0], { ...two[1], up: false, error: 'gone' }])), base);
    assert.notEqual(treeSignature(buildAgentTree(spread, [], 'task', [two[0], { ...two[1], slots: 3 }])), base);
  });
});

/** Every group id under `nodes`, depth first. */
function groupIds(nodes: readonly AgentsNode[]): string[] {
  return nodes.flatMap((n) => (n.kind === 'group' ? [n.id, ...groupIds(n.children)] : []));
}

/** A node without its container rows' `info` (which carries the host), to compare shapes. */
function strip(n: AgentsNode): unknown {
  if (n.kind === 'container') return { kind: n.kind, name: n.name, hostShown: n.hostShown };
  if (n.kind === 'queued') return n;
  return { ...n, children: n.children.map(strip) };
}
