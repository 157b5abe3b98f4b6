import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { ContainerInfo } from '../../src/core/engine';
import type { QueuedLaunch } from '../../src/core/pipeline';
import { AgentsNode, buildAgentTree, containerRows, groupByOf, treeSignature } from '../../src/vscode/agentTree';
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
