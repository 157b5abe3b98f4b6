/** borg.docker.hosts and --docker-host: entries, defaults, and the refusals (core/dockerHosts.ts). */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { defaultHostName, isContextName, parseHostFlags, readHostsSetting } from '../../src/core/dockerHosts';
import { InvalidInputError } from '../../src/core/errors';
import { readGeneralSettings, settingOfWarning } from '../../src/core/settingRules';

describe('readHostsSetting (borg.docker.hosts)', () => {
  it('unset or empty: no hosts (the one daemon of borg.dockerHost), no warning', () => {
    assert.deepEqual(readHostsSetting(undefined, 4), { hosts: [], warnings: [] });
    assert.deepEqual(readHostsSetting([], 4), { hosts: [], warnings: [] });
  });

  it('strings and objects; slots default to maxParallelAgents; names from the host part, the socket or the context', () => {
    const { hosts, warnings } = readHostsSetting(['ssh://me@gpu-box', 'unix:///var/run/docker.sock', 'colima', { host: 'tcp://10.0.0.5:2376', slots: 2, name: 'big' }], 4);
    assert.deepEqual(warnings, []);
    assert.deepEqual(hosts, [
      { name: 'gpu-box', address: 'ssh://me@gpu-box', slots: 4 },
      { name: 'local', address: 'unix:///var/run/docker.sock', slots: 4 },
      { name: 'colima', address: 'colima', slots: 4 },
      { name: 'big', address: 'tcp://10.0.0.5:2376', slots: 2 },
    ]);
  });

  it('two derived names alike get -2; an explicit name keeps its own and the derived one moves on', () => {
    const { hosts } = readHostsSetting(['tcp://box:2375', 'tcp://box:2376', { host: 'ssh://box', name: 'box-2' }], 1);
    assert.deepEqual(
      hosts.map((h) => h.name),
      ['box', 'box-3', 'box-2'],
    );
  });

  it('a bad entry is dropped with one warning naming its position and what to write; the others stay', () => {
    const { hosts, warnings } = readHostsSetting(['ssh://a', { host: 'ssh://b', slots: 0 }, 42, { host: 'ssh://c', name: 'bad name' }, { host: 'ssh://d', cpu: 1 }, 'ssh://A'], 3);
    assert.deepEqual(
      hosts.map((h) => h.address),
      ['ssh://a'],
    );
    assert.equal(warnings.length, 5);
    assert.match(warnings[0], /^borg\.docker\.hosts entry 2 .*slots is 0; it must be a whole number from 1 to 32/);
    assert.match(warnings[1], /entry 3 \(42\).*an address or a context name/);
    assert.match(warnings[2], /entry 4 .*name is "bad name"/);
    assert.match(warnings[3], /entry 5 .*"cpu"; only "host", "slots" and "name"/);
    assert.match(warnings[4], /entry 6 .*ssh:\/\/A is listed already \(entry 1\)/, 'scheme and host are compared without case');
    for (const w of warnings) assert.equal(settingOfWarning(w), 'borg.docker.hosts');
  });

  it('the same explicit name twice: the second is dropped', () => {
    const { hosts, warnings } = readHostsSetting(
      [
        { host: 'ssh://a', name: 'x' },
        { host: 'ssh://b', name: 'x' },
      ],
      1,
    );
    assert.equal(hosts.length, 1);
    assert.match(warnings[0], /the name "x" is taken by entry 1/);
  });

  it('not a list: no hosts and one warning', () => {
    const { hosts, warnings } = readHostsSetting('ssh://a', 1);
    assert.deepEqual(hosts, []);
    assert.match(warnings[0], /^borg\.docker\.hosts is "ssh:\/\/a"; it must be a list/);
  });

  it('addresses with spaces, control characters or a bad context name are refused', () => {
    const { warnings } = readHostsSetting(['ssh://a b', 'tcp://h\u001b[2J', '-ctx', ''], 1);
    assert.equal(warnings.length, 4);
  });

  it('readGeneralSettings reads borg.docker.hosts with borg.maxParallelAgents as the default slots, and borg.engine', () => {
    const { settings, warnings } = readGeneralSettings({ maxParallelAgents: 6, 'docker.hosts': ['ssh://a'], engine: 'swarm' });
    assert.deepEqual(warnings, []);
    assert.deepEqual(settings.dockerHosts, [{ name: 'a', address: 'ssh://a', slots: 6 }]);
    assert.equal(settings.engine, 'swarm');
    const bad = readGeneralSettings({ engine: 'k8s' });
    assert.equal(bad.settings.engine, 'docker');
    assert.match(bad.warnings[0], /^borg\.engine is "k8s"; it must be one of docker, swarm/);
  });

  it('borg.swarm.placement keeps constraints and drops the rest with one warning', () => {
    const { settings, warnings } = readGeneralSettings({ 'swarm.placement': ['node.labels.borg==yes', ' node.role != manager ', 'rm -rf /', 7] });
    assert.deepEqual(settings.swarmPlacement, ['node.labels.borg==yes', 'node.role != manager']);
    assert.equal(warnings.length, 1);
    assert.equal(settingOfWarning(warnings[0]), 'borg.swarm.placement');
  });
});

describe('parseHostFlags (--docker-host ADDRESS[,slots=N][,name=NAME])', () => {
  it('an address alone, or with slots and a name', () => {
    assert.deepEqual(parseHostFlags(['ssh://me@box', 'tcp://10.0.0.5:2376,slots=4,name=gpu'], 2), [
      { name: 'box', address: 'ssh://me@box', slots: 2 },
      { name: 'gpu', address: 'tcp://10.0.0.5:2376', slots: 4 },
    ]);
    assert.deepEqual(parseHostFlags([], 2), []);
  });

  it('refuses slots out of 1–32, unknown keys, bad names and the same address twice, saying what to write', () => {
    for (const [values, why] of [
      [['ssh://a,slots=33'], /slots is "33"; it must be a whole number from 1 to 32/],
      [['ssh://a,slots=1.5'], /slots is "1.5"/],
      [['ssh://a,slots='], /slots is ""/],
      [['ssh://a,cpus=2'], /"cpus=2" is not slots=N or name=NAME/],
      [['ssh://a,name=../x'], /name is "..\/x"/],
      [['ssh://a', 'ssh://a/'], /ssh:\/\/a\/ is listed already \(entry 1\)/],
      [['ssh://a,name=x', 'ssh://b,name=x'], /the name "x" is taken/],
    ] as const) {
      assert.throws(
        () => parseHostFlags(values, 1),
        (e: unknown) => e instanceof InvalidInputError && why.test(e.message) && /Write --docker-host ADDRESS\[,slots=N\]\[,name=NAME\]/.test(e.message),
        values.join(' '),
      );
    }
  });
});

describe('host entry helpers', () => {
  it('a bare word is a context name; host:port and scheme:// are addresses', () => {
    assert.equal(isContextName('colima'), true);
    assert.equal(isContextName('box:2375'), false);
    assert.equal(isContextName('ssh://box'), false);
  });

  it('default names: host part (user and port dropped, IPv6 unbracketed), socket file, context; unsafe characters become -', () => {
    assert.equal(defaultHostName('ssh://me@gpu-box:2222'), 'gpu-box');
    assert.equal(defaultHostName('tcp://[::1]:2375'), '1');
    assert.equal(defaultHostName('unix:///run/user/1000/podman.sock'), 'podman');
    assert.equal(defaultHostName('unix:///var/run/docker.sock'), 'local');
    assert.equal(defaultHostName('desktop-linux'), 'desktop-linux');
  });
});
