/** ssh:// Docker hosts: known_hosts (core/sshKnownHosts.ts), identities (sshIdentity.ts), the endpoint and docker-modem's options (dockerEndpoint.ts). */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { isPlainRemote, modemOptions, parseDockerEndpoint, resolveHostEndpoint, sshConnectOptions } from '../../src/core/dockerEndpoint';
import { DockerEngine } from '../../src/core/engine';
import { InvalidInputError } from '../../src/core/errors';
import { defaultSshIdentity, isEncryptedKey } from '../../src/core/sshIdentity';
import { hostKeyAlgorithms, hostKeyVerifier, knownHostKeysIn } from '../../src/core/sshKnownHosts';

/** An ed25519 public key blob as OpenSSH writes it (string "ssh-ed25519", string key). */
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const str = (b: Buffer) => Buffer.concat([u32(b.length), b]);
  return Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
/** A private key file in OpenSSH's format with `cipher` (only the header is real). */
function opensshKey(cipher: string): string {
  const blob = Buffer.concat([Buffer.from('openssh-key-v1\0'), u32(cipher.length), Buffer.from(cipher), randomBytes(32)]);
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${blob.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

describe('known_hosts', () => {
  const a = ed25519Blob().toString('base64');
  const b = ed25519Blob().toString('base64');

  it('plain names, [host]:port for another port, wildcards, negation, case', () => {
    const text = [`box,10.0.0.5 ssh-ed25519 ${a}`, `[box]:2222 ssh-ed25519 ${b}`, `*.lab,!evil.lab ssh-rsa ${b}`, `# box ssh-ed25519 ${b}`].join('\n');
    assert.deepEqual(knownHostKeysIn(text, 'BOX', 22).accepted, [{ type: 'ssh-ed25519', key: a }]);
    assert.deepEqual(knownHostKeysIn(text, 'box', 2222).accepted, [{ type: 'ssh-ed25519', key: b }]);
    assert.equal(knownHostKeysIn(text, 'gpu.lab', 22).accepted.length, 1);
    assert.equal(knownHostKeysIn(text, 'evil.lab', 22).accepted.length, 0, 'negated');
    assert.equal(knownHostKeysIn(text, 'other', 22).accepted.length, 0);
  });

  it('hashed names (|1|salt|hash) match their host only', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[box]:2200').digest('base64');
    const text = `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${a}`;
    assert.equal(knownHostKeysIn(text, 'box', 2200).accepted.length, 1);
    assert.equal(knownHostKeysIn(text, 'box', 22).accepted.length, 0);
  });

  it('the verifier accepts a listed key, refuses another, and refuses a @revoked one even when listed', () => {
    const known = knownHostKeysIn(`box ssh-ed25519 ${a}\n@revoked box ssh-ed25519 ${b}\nbox ssh-ed25519 ${b}\n@cert-authority box ssh-ed25519 ${a}`, 'box', 22);
    const verify = hostKeyVerifier(known);
    assert.equal(verify(Buffer.from(a, 'base64')), true);
    assert.equal(verify(Buffer.from(b, 'base64')), false, 'revoked');
    assert.equal(verify(ed25519Blob()), false, 'unknown key (a man in the middle)');
  });

  it('the host-key algorithms offered are those of the listed keys (rsa signs with sha2 too)', () => {
    assert.deepEqual(hostKeyAlgorithms(knownHostKeysIn(`box ssh-rsa ${a}\nbox ssh-ed25519 ${b}`, 'box', 22)), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
  });
});

describe('identities', () => {
  it('OpenSSH keys with cipher none are unencrypted; aes256-ctr, PKCS#8 encrypted, Proc-Type ENCRYPTED and unknown text are not used', () => {
    assert.equal(isEncryptedKey(opensshKey('none')), false);
    assert.equal(isEncryptedKey(opensshKey('aes256-ctr')), true);
    assert.equal(isEncryptedKey('-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----'), true);
    assert.equal(isEncryptedKey('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----'), true);
    assert.equal(isEncryptedKey('-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----'), false);
    assert.equal(isEncryptedKey('hello'), true);
  });
});

describe('ssh:// endpoints', () => {
  let home: string;
  const key = ed25519Blob().toString('base64');
  before(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-ssh-'));
    fs.mkdirSync(path.join(home, '.ssh'));
    fs.writeFileSync(path.join(home, '.ssh', 'known_hosts'), `gpu-box ssh-ed25519 ${key}\n[127.0.0.1]:2222 ssh-ed25519 ${key}\n`);
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it('ssh://user@host:port with a known host key and an agent: an ssh endpoint, port 22 by default, the user from USER', () => {
    const e = parseDockerEndpoint('ssh://me@127.0.0.1:2222', { HOME: home, SSH_AUTH_SOCK: '/tmp/agent.sock' });
    assert.equal(e.kind, 'ssh');
    if (e.kind !== 'ssh') return;
    assert.deepEqual([e.host, e.port, e.username, e.address, e.ssh.agent], ['127.0.0.1', 2222, 'me', 'ssh://me@127.0.0.1:2222', '/tmp/agent.sock']);
    const d = parseDockerEndpoint('ssh://gpu-box', { HOME: home, SSH_AUTH_SOCK: '/a', USER: 'alice' });
    assert.equal(d.address, 'ssh://alice@gpu-box:22');
  });

  it('is encrypted: never insecureRemote (the API key may cross it)', () => {
    const e = parseDockerEndpoint('ssh://gpu-box', { HOME: home, SSH_AUTH_SOCK: '/a' });
    assert.equal(isPlainRemote(e), false);
  });

  it("docker-modem's options: plain HTTP through Borg's ssh agent (an http.Agent), host and port; ssh2's options: a host-key verifier over known_hosts, no agent forwarding", () => {
    const e = parseDockerEndpoint('ssh://me@gpu-box', { HOME: home, SSH_AUTH_SOCK: '/a' });
    const o = modemOptions(e) as Record<string, unknown>;
    assert.equal(o.protocol, 'http');
    assert.deepEqual([o.host, o.port, o.socketPath, o.ca, o.sshOptions], ['gpu-box', 22, undefined, undefined, undefined]);
    assert.ok(o.agent instanceof http.Agent);
    assert.equal(e.kind, 'ssh');
    if (e.kind !== 'ssh') return;
    const ssh = sshConnectOptions(e);
    assert.equal(ssh.agent, '/a');
    assert.equal(ssh.agentForward, false);
    assert.deepEqual((ssh.algorithms as { serverHostKey: string[] }).serverHostKey, ['ssh-ed25519']);
    const verify = ssh.hostVerifier as (k: Buffer) => boolean;
    assert.equal(verify(Buffer.from(key, 'base64')), true);
    assert.equal(verify(ed25519Blob()), false);
  });

  it('an unknown host key is refused before any connection, saying how to add it', () => {
    assert.throws(
      () => parseDockerEndpoint('ssh://me@other:2200', { HOME: home, SSH_AUTH_SOCK: '/a' }),
      (e: unknown) => e instanceof InvalidInputError && /key is not in .*known_hosts/.test(e.message) && /ssh -p 2200 me@other true/.test(e.message),
    );
  });

  it('no agent and no unencrypted default key: refused, naming both ways; an unencrypted ~/.ssh/id_ed25519 is used', () => {
    assert.throws(() => parseDockerEndpoint('ssh://gpu-box', { HOME: home }), /start ssh-agent .*SSH_AUTH_SOCK is unset.*id_ed25519/);
    fs.writeFileSync(path.join(home, '.ssh', 'id_ed25519'), opensshKey('aes256-ctr'));
    assert.throws(() => parseDockerEndpoint('ssh://gpu-box', { HOME: home }), /no key to log in with/, 'an encrypted key is not used');
    fs.writeFileSync(path.join(home, '.ssh', 'id_rsa'), opensshKey('none'));
    const e = parseDockerEndpoint('ssh://gpu-box', { HOME: home });
    assert.equal(e.kind === 'ssh' && e.ssh.identityFile, path.join(home, '.ssh', 'id_rsa'));
    assert.equal(defaultSshIdentity(home)?.file, path.join(home, '.ssh', 'id_rsa'));
    fs.rmSync(path.join(home, '.ssh', 'id_ed25519'));
    fs.rmSync(path.join(home, '.ssh', 'id_rsa'));
  });

  it('a password, a path or a query in the address is refused', () => {
    for (const a of ['ssh://me:pw@gpu-box', 'ssh://gpu-box/x', 'ssh://gpu-box?a=1', 'ssh://gpu-box:99999'])
      assert.throws(() => parseDockerEndpoint(a, { HOME: home, SSH_AUTH_SOCK: '/a' }), InvalidInputError, a);
  });

  it("DockerEngine over an ssh:// host entry: the endpoint is the entry's, not DOCKER_HOST's, and the gateway's unix-only rule sees ssh://", () => {
    const saved = { HOME: process.env.HOME, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK, DOCKER_HOST: process.env.DOCKER_HOST };
    process.env.HOME = home;
    process.env.SSH_AUTH_SOCK = '/a';
    process.env.DOCKER_HOST = 'unix:///var/run/docker.sock';
    try {
      const engine = new DockerEngine(undefined, { host: { name: 'gpu', address: 'ssh://me@gpu-box' } });
      assert.equal(engine.endpoint, 'ssh://me@gpu-box:22');
      assert.equal(engine.insecureRemote, false);
      assert.equal(engine.choice, 'Docker at ssh://me@gpu-box:22 (borg.docker.hosts "gpu")');
      assert.deepEqual(engine.source, { kind: 'host', name: 'gpu' });
      const lenient = new DockerEngine(undefined, { lenient: true, host: { name: 'x', address: 'ssh://me@unknown-box' } });
      assert.ok(lenient.invalidAddress);
      assert.equal(lenient.endpoint, 'ssh://me@unknown-box');
      assert.deepEqual(lenient.source, { kind: 'host', name: 'x' });
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});

describe('host entries naming a Docker context', () => {
  let config: string;
  before(() => {
    config = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-ctx-'));
    const dir = path.join(config, 'contexts', 'meta', createHash('sha256').update('lab').digest('hex'));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ Name: 'lab', Endpoints: { docker: { Host: 'unix:///run/lab.sock' } } }));
  });
  after(() => fs.rmSync(config, { recursive: true, force: true }));

  it('a context name is read by name (not the current context), with the entry as its source', () => {
    const r = resolveHostEndpoint('lab', 'lab', { DOCKER_CONFIG: config, DOCKER_CONTEXT: 'other' });
    assert.equal(r.endpoint.address, 'unix:///run/lab.sock');
    assert.deepEqual(r.source, { kind: 'host', name: 'lab' });
  });

  it('an undefined context is refused, naming its meta.json and the entry', () => {
    assert.throws(
      () => resolveHostEndpoint('nope', 'n', { DOCKER_CONFIG: config }),
      (e: unknown) => e instanceof InvalidInputError && /"nope" \(from borg\.docker\.hosts "n"\) is not defined/.test(e.message),
    );
  });

  it('"default" is DOCKER_HOST, else the default socket', () => {
    assert.equal(resolveHostEndpoint('default', 'd', { DOCKER_CONFIG: config }).endpoint.address, 'unix:///var/run/docker.sock');
    assert.equal(resolveHostEndpoint('default', 'd', { DOCKER_CONFIG: config, DOCKER_HOST: 'tcp://10.1.1.1:2375' }).endpoint.address, 'tcp://10.1.1.1:2375');
  });
});
