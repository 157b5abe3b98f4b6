/** The status bar item's accessible label (core/statusWords.ts): words, not codicons. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { HostCount } from '../../src/core/hostCounts';
import { hostLines, hostsDown, StatusFacts, statusAccessibleLabel } from '../../src/core/statusWords';

const idle: StatusFacts = { running: 0, max: 4, launchesQueued: 0, tasksQueued: 0, paused: false, replay: false, readOnly: false, dockerUnreachable: false };

describe('statusAccessibleLabel', () => {
  it("reads the counts and the day's spend as a sentence", () => {
    assert.equal(statusAccessibleLabel({ ...idle, running: 2, tasksQueued: 3, spentTodayUsd: 0.42 }), '2 of 4 agents running, 3 tasks queued, $0.42 spent today');
  });

  it('idle: only the agents; one of each in the singular', () => {
    assert.equal(statusAccessibleLabel(idle), '0 of 4 agents running');
    assert.equal(statusAccessibleLabel({ ...idle, running: 1, max: 1, launchesQueued: 1, tasksQueued: 1 }), '1 of 1 agent running, 1 agent launch waiting, 1 task queued');
  });

  it('paused, read-only, replay and a spend under a cent are said in words', () => {
    assert.equal(
      statusAccessibleLabel({ ...idle, launchesQueued: 2, paused: true, readOnly: true, spentTodayUsd: 0.001, replay: true }),
      '0 of 4 agents running, 2 agent launches waiting, tasks paused, read-only: another window or borg run holds this workspace, less than $0.01 spent today, the model is a replayed recording',
    );
  });

  it('Docker unreachable says only that', () => {
    assert.equal(statusAccessibleLabel({ ...idle, running: 3, dockerUnreachable: true }), 'Borg Pipeline: Docker is unreachable');
  });

  it('never carries a codicon or a middle dot', () => {
    const label = statusAccessibleLabel({ ...idle, running: 1, launchesQueued: 1, tasksQueued: 2, paused: true, spentTodayUsd: 3, replay: true });
    assert.doesNotMatch(label, /\$\(|·/);
  });
});

describe('the status bar across hosts', () => {
  const a: HostCount = { name: 'a', agents: 3, running: 2, state: { name: 'a', address: 'unix:///run/a.sock', slots: 4, up: true } };
  const b: HostCount = { name: 'b', agents: 1, running: 0, state: { name: 'b', address: 'tcp://b:2376', slots: 2, up: false, error: 'connect ECONNREFUSED 10.0.0.2:2376' } };

  it('one host or none: nothing about hosts, in the label or the tooltip', () => {
    assert.equal(statusAccessibleLabel({ ...idle, running: 2, hosts: [a] }), '2 of 4 agents running');
    assert.deepEqual(hostLines([a]), []);
    assert.deepEqual(hostLines(undefined), []);
    assert.equal(hostsDown([{ ...a, state: { ...a.state!, up: false } }]), 1);
  });

  it('two hosts: the label says each in words, the tooltip has a line per host (running/slots, down with why)', () => {
    assert.equal(statusAccessibleLabel({ ...idle, running: 2, max: 6, hosts: [a, b] }), '2 of 6 agents running, on 2 hosts: a 2 of 4 running; b down');
    assert.deepEqual(hostLines([a, b]), ['a: 2/4', 'b: down — connect ECONNREFUSED 10.0.0.2:2376']);
    assert.equal(hostsDown([a, b]), 1);
  });

  it('Swarm nodes have no slots: their running count, and they are called nodes', () => {
    const n1: HostCount = { name: 'node-1', agents: 2, running: 2 };
    const n2: HostCount = { name: 'node-2', agents: 1, running: 0 };
    assert.deepEqual(hostLines([n1, n2]), ['node-1: 2 running', 'node-2: 0 running']);
    assert.equal(statusAccessibleLabel({ ...idle, running: 2, hosts: [n1, n2], hostWord: 'Node' }), '2 of 4 agents running, on 2 nodes: node-1 2 running; node-2 0 running');
  });

  it('host names and errors are one inert line: no escapes, controls, bidi overrides or newlines', () => {
    const evil: HostCount = {
      name: 'x\u001b[2J\u202eevil\nline',
      agents: 0,
      running: 0,
      state: { name: 'x', address: 'a', slots: 1, up: false, error: 'boom\r\n\u0007[click](command:borg.stopAll)' },
    };
    const [line] = hostLines([evil, a]);
    assert.equal(line, 'xevil line: down — boom [click](command:borg.stopAll)');
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
  });
});
