/** Where agents run, per host or node (core/hostCounts.ts). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { HostState } from '../../src/core/engine';
import { HOST_TEXT_MAX, hostCounts, hostLoad, hostText, hostWordOf, manyHosts } from '../../src/core/hostCounts';
import { container } from './fakeEngine';

const state = (name: string, slots: number, up = true): HostState => ({ name, address: `unix:///run/${name}.sock`, slots, up });

describe('hostCounts', () => {
  it('one daemon: no hosts at all', () => {
    const counts = hostCounts([container('b-1'), container('b-2', { status: 'running' })]);
    assert.deepEqual(counts, []);
    assert.equal(manyHosts(counts), false);
  });

  it("the engine's hosts in its order (also with no container), then hosts only containers name, by name", () => {
    const counts = hostCounts(
      [container('b-1', { host: 'z', status: 'running' }), container('b-2', { host: 'b' }), container('b-3', { host: 'b', status: 'running' }), container('b-4', { host: 'm' }), container('b-5')],
      [state('b', 2), state('a', 4, false)],
    );
    assert.deepEqual(
      counts.map((h) => [h.name, h.agents, h.running, h.state?.slots]),
      [
        ['b', 2, 1, 2],
        ['a', 0, 0, 4],
        ['m', 1, 0, undefined],
        ['z', 1, 1, undefined],
      ],
    );
    assert.equal(manyHosts(counts), true);
  });

  it('load words: running/slots, down with its error, a node by its running count', () => {
    assert.equal(hostLoad({ name: 'a', agents: 3, running: 2, state: state('a', 4) }), '2/4');
    assert.equal(hostLoad({ name: 'a', agents: 3, running: 2, state: { ...state('a', 4, false), error: 'connect ENOENT' } }), 'down — connect ENOENT');
    assert.equal(hostLoad({ name: 'a', agents: 0, running: 0, state: state('a', 4, false) }), 'down');
    assert.equal(hostLoad({ name: 'n', agents: 1, running: 1 }), '1 running');
  });

  it('Host with the engine listing hosts, Node for Swarm', () => {
    assert.equal(hostWordOf([state('a', 1)]), 'Host');
    assert.equal(hostWordOf(undefined), 'Node');
  });

  it('hostText: one line, controls and escapes dropped, cut at the limit', () => {
    assert.equal(hostText('a\u001b]8;;http://x\u0007b\u0000\u009b\u2066c\n\n  d'), 'abc d');
    const long = hostText('x'.repeat(500));
    assert.equal(long.length, HOST_TEXT_MAX);
    assert.ok(long.endsWith('…'));
  });
});
