/**
 * ssh:// Docker hosts for real: an sshd on 127.0.0.1 (its own host key, one authorized key) in
 * front of this machine's dockerd, and `node dist/cli.js` with `--docker-host ssh://root@…`
 * (build first: node scripts/build.mjs). Needs openssh-server (`/usr/sbin/sshd`) and the docker
 * CLI on the "remote" (this machine): skipped, saying so, without sshd.
 */
import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { docker, removeContainersWithPrefix } from './helpers';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const SSHD = '/usr/sbin/sshd';
const missing = !fs.existsSync(SSHD) ? `${SSHD} is missing (apt-get install openssh-server)` : false;

let dir: string;
let port: number;
let sshd: ChildProcess | undefined;
let madeRunDir = false;
const prefix = `bs${process.pid}`;

/** A port nothing listens on now (the kernel's pick, released at once). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return p;
}

function cli(args: string[], home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.SSH_AUTH_SOCK;
  delete env.DOCKER_HOST;
  delete env.ANTHROPIC_API_KEY;
  const child = spawn(process.execPath, [CLI, ...args, '--db', path.join(dir, 'borg.sqlite'), '--state-dir', path.join(dir, 'agents'), '--workspace', dir, '--prefix', prefix], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // a hang fails the test (code null) instead of blocking the suite
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** A HOME whose ~/.ssh has the client key and a known_hosts line for the server with `hostKeyPub`. */
function homeWith(name: string, hostKeyPub: string): string {
  const home = path.join(dir, name);
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  fs.copyFileSync(path.join(dir, 'userkey'), path.join(home, '.ssh', 'id_ed25519'));
  fs.writeFileSync(path.join(home, '.ssh', 'known_hosts'), `[127.0.0.1]:${port} ${hostKeyPub.split(' ').slice(0, 2).join(' ')}\n`);
  return home;
}

describe('ssh:// Docker hosts (sshd in front of the local dockerd)', { skip: missing }, () => {
  let home: string;
  let address: string;

  before(async () => {
    assert.ok(fs.existsSync(CLI), `${CLI} is missing: run "node scripts/build.mjs" first`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-sshd-'));
    for (const k of ['hostkey', 'userkey', 'otherkey']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, k)]);
    port = await freePort();
    fs.writeFileSync(
      path.join(dir, 'sshd_config'),
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${path.join(dir, 'hostkey')}`,
        `AuthorizedKeysFile ${path.join(dir, 'userkey.pub')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
      ].join('\n') + '\n',
    );
    if (!fs.existsSync('/run/sshd')) {
      fs.mkdirSync('/run/sshd', { mode: 0o755 }); // sshd's privilege separation directory
      madeRunDir = true;
    }
    sshd = spawn(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      sshd!.stderr!.on('data', (d) => {
        log += d;
        if (/Server listening on 127\.0\.0\.1 port/.test(log)) resolve();
      });
      sshd!.once('exit', (code) => reject(new Error(`sshd exited ${code}: ${log}`)));
    });
    home = homeWith('home', fs.readFileSync(path.join(dir, 'hostkey.pub'), 'utf8'));
    const user = os.userInfo().username;
    address = `ssh://${user}@127.0.0.1:${port}`;
  });

  after(async () => {
    sshd?.kill('SIGTERM');
    await removeContainersWithPrefix(prefix);
    if (madeRunDir) fs.rmSync('/run/sshd', { recursive: true, force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('borg launch over ssh:// (network none) starts the agent on that daemon and exits: no SSH connection outlives the command', async () => {
    const r = await cli(['launch', 'worker', '--network', 'none', '--input', '{"sleepSeconds":0}', '--docker-host', address], home);
    assert.equal(r.code, 0, r.stderr);
    const [name, id] = r.stdout.trim().split(' ');
    assert.equal(name, `${prefix}-worker-0`);
    const info = await docker.getContainer(id).inspect();
    assert.equal(info.Name, `/${name}`);
    assert.equal(info.HostConfig.NetworkMode, 'none');
  });

  it('borg ls over ssh:// lists what the socket lists', async () => {
    const viaSsh = await cli(['ls', '--json', '--docker-host', address], home);
    assert.equal(viaSsh.code, 0, viaSsh.stderr);
    const viaSocket = await cli(['ls', '--json', '--docker-host', 'unix:///var/run/docker.sock'], home);
    assert.equal(viaSocket.code, 0, viaSocket.stderr);
    // Only this test's containers: other suites may create and remove theirs on the same daemon meanwhile.
    const names = (s: string) =>
      (JSON.parse(s) as { containers: Array<{ name: string }> }).containers
        .map((c) => c.name)
        .filter((n) => n.startsWith(`${prefix}-`))
        .sort();
    assert.deepEqual(names(viaSsh.stdout), [`${prefix}-worker-0`]);
    assert.deepEqual(names(viaSsh.stdout), names(viaSocket.stdout));
  });

  it('the default network (the model gateway) is refused on an ssh:// host: the gateway is a socket on this machine', async () => {
    const r = await cli(['launch', 'worker', '--docker-host', address], home);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not on this machine, so agents there cannot reach Borg's model gateway/);
  });

  it('a server whose host key is not the one in known_hosts (a man in the middle) is refused: nothing is listed', async () => {
    const wrong = homeWith('wrong', fs.readFileSync(path.join(dir, 'otherkey.pub'), 'utf8'));
    const r = await cli(['ls', '--json', '--docker-host', address], wrong);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Docker is not reachable at ssh:\/\//);
    assert.equal(r.stdout, '');
  });

  it('a host with no known_hosts line is refused before connecting, saying how to add it', async () => {
    const none = homeWith('none', '');
    fs.writeFileSync(path.join(none, '.ssh', 'known_hosts'), '');
    const r = await cli(['ls', '--docker-host', address], none);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /key is not in .*known_hosts/);
  });
});
