/** The CLI's --engine and --docker-host (cli/common.ts engineOf, cli/main.ts): parsing and refusals, before any Docker call. */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { engineOf, UsageError } from '../../src/cli/common';
import { main } from '../../src/cli/main';
import { DockerEngine } from '../../src/core/engine';
import { HostsEngine } from '../../src/core/hostsEngine';
import { SwarmEngine } from '../../src/core/swarmEngine';

function capture(): { io: { out: (s: string) => void; err: (s: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s) }, out, err };
}

describe('engineOf', () => {
  it('nothing given: one DockerEngine (DOCKER_HOST, the context, the socket)', () => {
    const e = engineOf({});
    assert.ok(e instanceof DockerEngine);
    assert.equal(e.hostEntry, undefined);
  });

  it('--docker-host once: that daemon; twice: a HostsEngine with --max-agents as the default slots', () => {
    const one = engineOf({ 'docker-host': ['unix:///one.sock'] });
    assert.ok(one instanceof DockerEngine);
    assert.equal(one.endpoint, 'unix:///one.sock');
    const two = engineOf({ 'docker-host': ['unix:///a.sock', 'unix:///b.sock,slots=1,name=bee'] }, 3);
    assert.ok(two instanceof HostsEngine);
    assert.deepEqual(
      two.hosts?.map((h) => [h.name, h.slots]),
      [
        ['a', 3],
        ['bee', 1],
      ],
    );
  });

  it('--engine swarm: a SwarmEngine; with two --docker-host: a usage error', () => {
    assert.ok(engineOf({ engine: 'swarm' }) instanceof SwarmEngine);
    assert.throws(
      () => engineOf({ engine: 'swarm', 'docker-host': ['unix:///a.sock', 'unix:///b.sock'] }),
      (e: unknown) => e instanceof UsageError && /one manager/.test(e.message),
    );
  });

  it('a bad --engine or --docker-host is a usage error naming the flag', () => {
    assert.throws(
      () => engineOf({ engine: 'k8s' }),
      (e: unknown) => e instanceof UsageError && /^--engine is "k8s"; it must be one of docker, swarm/.test(e.message),
    );
    assert.throws(
      () => engineOf({ 'docker-host': ['unix:///a.sock,slots=99'] }),
      (e: unknown) => e instanceof UsageError && /--docker-host "unix:\/\/\/a.sock,slots=99"/.test(e.message),
    );
  });
});

describe('borg --engine / --docker-host', () => {
  it('ls, launch, hardline, reclaim, rm and run take them; tasks does not', async () => {
    for (const cmd of [['ls'], ['launch', 'worker'], ['hardline', 'x'], ['reclaim', 'x'], ['rm', 'x'], ['run']]) {
      const c = capture();
      assert.equal(await main([...cmd, '--engine', 'k8s'], c.io), 2, cmd.join(' '));
      assert.match(c.err.join('\n'), /--engine is "k8s"/, `${cmd.join(' ')} reads --engine`);
    }
    const c = capture();
    assert.equal(await main(['tasks', 'ls', '--engine', 'docker'], c.io), 2);
    assert.match(c.err.join('\n'), /borg tasks ls does not take --engine/);
  });

  it('two --docker-host reaching one daemon: refused with exit 1, before anything else', async () => {
    const c = capture();
    assert.equal(await main(['ls', '--docker-host', 'tcp://box:2375', '--docker-host', 'TCP://BOX:2375,name=b'], c.io), 2, 'the same address as written: a usage error');
    assert.match(c.err.join('\n'), /is listed already/);
    const d = capture();
    assert.equal(await main(['ls', '--docker-host', 'tcp://box:2375', '--docker-host', 'box:2375'], d.io), 1);
    assert.match(d.err.join('\n'), /reach the same daemon/);
  });

  it('--help documents both', async () => {
    const c = capture();
    assert.equal(await main(['--help'], c.io), 0);
    assert.match(c.out.join('\n'), /--engine docker\|swarm/);
    assert.match(c.out.join('\n'), /--docker-host ADDRESS\[,slots=N\]\[,name=NAME\]/);
  });
});
