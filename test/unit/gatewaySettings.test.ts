/** The gateway's settings rules (one table for the extension and the CLI) and the egress patterns. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { egressRuleFor, parseConnectTarget, readEgressAllow } from '../../src/core/gateway/egress';
import { DEFAULT_GATEWAY_SETTINGS } from '../../src/core/gateway/gateway';
import { readGatewaySettings } from '../../src/core/gateway/settings';

describe('readGatewaySettings', () => {
  it('nothing set: the defaults ($5 per task, $50 per day, the Anthropic API), no problems', () => {
    assert.deepEqual(readGatewaySettings({}, undefined, '/ws'), { settings: DEFAULT_GATEWAY_SETTINGS, problems: [], warnings: [] });
  });

  it("relative recording and replay files are the base folder's; URLs stay as given", () => {
    const r = readGatewaySettings({ modelUpstream: 'replay:rec/a.jsonl', gatewayRecord: 'out.jsonl' }, undefined, '/ws');
    assert.equal(r.settings.upstream, 'replay:/ws/rec/a.jsonl');
    assert.equal(r.settings.record, '/ws/out.jsonl');
    assert.equal(readGatewaySettings({ modelUpstream: 'http://127.0.0.1:9/' }).settings.upstream, 'http://127.0.0.1:9/');
  });

  it('bad values fall back to the defaults, each with a problem naming the setting (or the flag) and a warning', () => {
    const r = readGatewaySettings({ modelUpstream: 'ftp://x', maxCostUsdPerTask: -1, maxCostUsdPerDay: 'lots', egressAllow: ['ok.example.com', 'no spaces'], gatewayRecord: 3 }, (k) => `--${k}`);
    assert.equal(r.settings.upstream, DEFAULT_GATEWAY_SETTINGS.upstream);
    assert.equal(r.settings.maxCostUsdPerTask, 5);
    assert.equal(r.settings.maxCostUsdPerDay, 50);
    assert.equal(r.settings.record, '');
    assert.deepEqual(
      r.settings.egressAllow.map((e) => e.entry),
      ['ok.example.com'],
    );
    assert.equal(r.problems.length, 5, r.problems.join('\n'));
    assert.match(r.problems.join('\n'), /--modelUpstream is "ftp:\/\/x"; it must be an http:\/\/ or https:\/\/ URL, or replay:<file>/);
    assert.match(r.problems.join('\n'), /--maxCostUsdPerTask is -1; it must be a number from 0 to 100000 USD/);
    assert.equal(r.warnings.length, 5);
  });
});

describe('borg.egressAllow patterns (judged by name, no DNS)', () => {
  const rules = readEgressAllow(['example.com', '*.sub.org', '.both.net', 'api.host.io:8443', '10.0.0.7']).rules;
  const allowed = (host: string, port = 443) => egressRuleFor(rules, host, port)?.entry;

  it('exact, subdomains only, both; case and one trailing dot do not matter', () => {
    assert.equal(allowed('example.com'), 'example.com');
    assert.equal(allowed('EXAMPLE.com.'), 'example.com');
    assert.equal(allowed('www.example.com'), undefined, 'an exact entry does not cover subdomains');
    assert.equal(allowed('a.sub.org'), '*.sub.org');
    assert.equal(allowed('sub.org'), undefined, '*. covers subdomains only');
    assert.equal(allowed('both.net'), '.both.net');
    assert.equal(allowed('x.y.both.net'), '.both.net');
    assert.equal(allowed('evilboth.net'), undefined, 'a suffix is matched at a dot');
    assert.equal(allowed('example.com.evil.io'), undefined);
  });

  it('ports: 443 and 80 by default, only the given one with :port; IP literals only exactly', () => {
    assert.equal(allowed('example.com', 80), 'example.com');
    assert.equal(allowed('example.com', 22), undefined);
    assert.equal(allowed('api.host.io', 8443), 'api.host.io:8443');
    assert.equal(allowed('api.host.io', 443), undefined);
    assert.equal(allowed('10.0.0.7'), '10.0.0.7');
    assert.equal(allowed('10.0.0.8'), undefined);
  });

  it('bad entries are reported and skipped; CONNECT targets parse or are refused', () => {
    assert.deepEqual(readEgressAllow(['*.', 'a b', 'x.com:99999', 42]).rules, []);
    assert.equal(readEgressAllow(['*.', 'a b']).problems.length, 2);
    assert.deepEqual(parseConnectTarget('Example.com:443'), { host: 'example.com', port: 443 });
    assert.deepEqual(parseConnectTarget('[::1]:8443'), { host: '::1', port: 8443 });
    assert.equal(parseConnectTarget('example.com'), undefined);
    assert.equal(parseConnectTarget('a/b:443'), undefined);
    assert.equal(parseConnectTarget('x:0'), undefined);
  });
});
