import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The private key an ssh:// Docker host is reached with when no ssh-agent runs: the first of
 * OpenSSH's default identities (`~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`; ssh(1) `-i`) that
 * exists and is not passphrase-protected (Borg asks for no passphrase; use ssh-agent for those).
 * `~/.ssh/config` is not read (no IdentityFile, User, Port or ProxyJump from it).
 */
export function defaultSshIdentity(home: string): { file: string; key: Buffer } | undefined {
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const file = path.join(home, '.ssh', name);
    let key: Buffer;
    try {
      key = fs.readFileSync(file);
    } catch {
      continue;
    }
    if (!isEncryptedKey(key.toString('utf8'))) return { file, key };
  }
  return undefined;
}

/**
 * True when a private key file needs a passphrase: an OpenSSH-format key (`openssh-key-v1`)
 * whose cipher is not `none` (PROTOCOL.key in OpenSSH's sources), or a PEM key with
 * `Proc-Type: 4,ENCRYPTED` or `BEGIN ENCRYPTED PRIVATE KEY` (PKCS#8). Unknown formats count as
 * encrypted (not used).
 */
export function isEncryptedKey(text: string): boolean {
  const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (openssh) {
    const blob = Buffer.from(openssh[1].replace(/\s+/g, ''), 'base64');
    const magic = Buffer.from('openssh-key-v1\0');
    if (blob.length < magic.length + 4 || !blob.subarray(0, magic.length).equals(magic)) return true;
    const len = blob.readUInt32BE(magic.length);
    const cipher = blob.subarray(magic.length + 4, magic.length + 4 + len).toString('latin1');
    return cipher !== 'none';
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text) || /Proc-Type:\s*4,ENCRYPTED/.test(text)) return true;
  return !/-----BEGIN (RSA |EC |)PRIVATE KEY-----/.test(text);
}
