// The tests' one way to make TLS material: a throwaway CA and a serving certificate signed by it
// (openssl, valid for a day), for servers on loopback that real clients (kube-apiserver's, LiteLLM's
// Python, Ollama's Go) must verify as usual.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface ServingCertificate {
  key: string;
  cert: string;
  keyFile: string;
  certFile: string;
  /** `ca.crt` in the folder: what clients trust. */
  caFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is needed by the tests (Debian: apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

/**
 * Writes ca.key/ca.crt and `<name>.key`/`<name>.crt` into `dir` (P-256 keys): a server certificate
 * for `sans` (e.g. "IP:127.0.0.1", "DNS:localhost").
 */
export async function makeServingCertificate(
  dir: string,
  o: { name?: string; caSubject: string; commonName: string; sans: string[] },
): Promise<ServingCertificate> {
  const name = o.name ?? 'tls';
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', `/CN=${o.caSubject}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], dir);
  await openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${o.commonName}`], dir);
  writeFileSync(
    path.join(dir, `${name}.ext`),
    [`subjectAltName=${o.sans.join(',')}`, 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature,keyEncipherment', 'basicConstraints=critical,CA:FALSE'].join('\n'),
  );
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`], dir);
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.crt`);
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), keyFile, certFile, caFile: path.join(dir, 'ca.crt') };
}
