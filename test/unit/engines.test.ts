/** The engine factory (core/engines.ts): which engine each choice builds, and the refusals. No daemon is contacted. */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HostEntry } from '../../src/core/dockerHosts';
import { DockerEngine } from '../../src/core/engine';
import { describeEngine, makeEngine, membersOf, sourceFor } from '../../src/core/engines';
import { DockerUnreachableError, InvalidInputError } from '../../src/core/errors';
import { HostsEngine } from '../../src/core/hostsEngine';
import { SwarmEngine } from '../../src/core/swarmEngine';

const host = (name: string, address: string, slots = 2): HostEntry => ({ name, address, slots });

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-engines-'));
  fs.writeFileSync(path.join(dir, 'docker.sock'), '');
  fs.symlinkSync(path.join(dir, 'docker.sock'), path.join(dir, 'link.sock'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('makeEngine', () => {
  it('docker with no hosts: one DockerEngine on borg.dockerHost (as before), its member named docker', () => {
    const e = makeEngine({ engine: 'docker', hosts: [], dockerHost: 'unix:///x.sock' });
    assert.ok(e instanceof DockerEngine);
    assert.equal(e.endpoint, 'unix:///x.sock');
    assert.equal(e.hostEntry, undefined);
    assert.deepEqual(
      membersOf(e).map((m) => m.name),
      ['docker'],
    );
  });

  it('docker with one host: a DockerEngine bound to that entry (borg.dockerHost ignored)', () => {
    const e = makeEngine({ engine: 'docker', hosts: [host('a', 'unix:///a.sock')], dockerHost: 'unix:///x.sock' });
    assert.ok(e instanceof DockerEngine);
    assert.equal(e.endpoint, 'unix:///a.sock');
    assert.deepEqual(e.source, { kind: 'host', name: 'a' });
  });

  it('docker with two hosts: a HostsEngine with their names, addresses and slots; membersOf gives both DockerEngines', () => {
    const e = makeEngine({ engine: 'docker', hosts: [host('a', 'unix:///a.sock', 3), host('b', 'tcp://10.0.0.5:2375', 1)] });
    assert.ok(e instanceof HostsEngine);
    assert.deepEqual(
      e.hosts?.map((h) => [h.name, h.address, h.slots]),
      [
        ['a', 'unix:///a.sock', 3],
        ['b', 'tcp://10.0.0.5:2375', 1],
      ],
    );
    const members = membersOf(e);
    assert.deepEqual(
      members.map((m) => [m.name, m.engine.endpoint]),
      [
        ['a', 'unix:///a.sock'],
        ['b', 'tcp://10.0.0.5:2375'],
      ],
    );
    assert.equal(e.insecureRemote, true, 'plain HTTP to another machine on one host is insecure for all');
    assert.deepEqual(sourceFor(e, 'tcp://10.0.0.5:2375'), { kind: 'host', name: 'b' });
    assert.match(describeEngine(e), /^a: Docker at unix:\/\/\/a\.sock \(borg\.docker\.hosts "a"\); b: /);
  });

  it('swarm: a SwarmEngine over the manager (borg.dockerHost, or the one host)', () => {
    const s = makeEngine({ engine: 'swarm', hosts: [], dockerHost: 'unix:///m.sock', placement: () => ['node.role==worker'] });
    assert.ok(s instanceof SwarmEngine);
    assert.deepEqual(
      membersOf(s).map((m) => m.engine.endpoint),
      ['unix:///m.sock'],
    );
    const one = makeEngine({ engine: 'swarm', hosts: [host('mgr', 'unix:///mgr.sock')] });
    assert.ok(one instanceof SwarmEngine);
    assert.deepEqual(
      membersOf(one).map((m) => [m.name, m.engine.endpoint]),
      [['mgr', 'unix:///mgr.sock']],
    );
  });

  it('swarm with several hosts is refused (a Swarm is reached through one manager)', () => {
    assert.throws(
      () => makeEngine({ engine: 'swarm', hosts: [host('a', 'unix:///a.sock'), host('b', 'unix:///b.sock')] }),
      (e: unknown) => e instanceof InvalidInputError && /through one manager/.test(e.message) && /a, b/.test(e.message),
    );
  });

  it('two entries reaching one daemon (a socket and a link to it; one TCP host in two spellings) are refused', () => {
    assert.throws(
      () => makeEngine({ engine: 'docker', hosts: [host('a', `unix://${dir}/docker.sock`), host('b', `unix://${dir}/link.sock`)] }),
      (e: unknown) => e instanceof InvalidInputError && /"a" and "b" reach the same daemon/.test(e.message),
    );
    assert.throws(() => makeEngine({ engine: 'docker', hosts: [host('a', 'tcp://Box:2375'), host('b', 'box:2375')] }), /reach the same daemon/);
  });

  it('lenient: a refused choice is an engine whose every call fails with the refusal, as a setting problem — never another daemon', async () => {
    const e = makeEngine({ engine: 'docker', hosts: [host('a', `unix://${dir}/docker.sock`), host('b', `unix://${dir}/link.sock`)], lenient: true });
    assert.ok(e instanceof DockerEngine);
    assert.ok(e.invalidAddress);
    await assert.rejects(e.list(), (err: unknown) => err instanceof DockerUnreachableError && /reach the same daemon/.test(err.message));
    assert.equal(sourceFor(e).kind, 'host');
    assert.ok(e.tryConnect(), 'connecting again keeps the refusal');
  });

  it('lenient: a host whose address cannot be resolved fails alone; the others are built', async () => {
    const e = makeEngine({ engine: 'docker', hosts: [host('ok', 'unix:///a.sock'), host('bad', 'ssh://me@unknown-host-borg-test')], lenient: true });
    assert.ok(e instanceof HostsEngine);
    const bad = membersOf(e).find((m) => m.name === 'bad');
    assert.ok(bad?.engine.invalidAddress);
    await assert.rejects(bad.engine.ping(), DockerUnreachableError);
  });

  it('not lenient: a host whose address cannot be resolved throws', () => {
    assert.throws(() => makeEngine({ engine: 'docker', hosts: [host('bad', 'ftp://x')] }), InvalidInputError);
  });
});
