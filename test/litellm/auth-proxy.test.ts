// The auth proxy llmstack puts in front of an exposed Ollama, run for real: the rendered nginx
// template, filled by envsubst with only the defined variable (as the nginx image's
// 20-envsubst-on-templates.sh does), served by nginx (Debian's 1.22 standing for the image's 1.28:
// every directive used is in both) in front of a fake Ollama. Only the listen address and the
// upstream port are changed for the test; both are checked as rendered first.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import { renderStack } from '../../src/render/index.js';
import { loadSpec } from '../../src/spec/load.js';
import { startFakeOllama, type FakeOllama } from '../support/fake-ollama.js';
import { deployedBundle, renderedClusterLabels } from '../support/fleet-deploy.js';
import { watchProcessGroup } from '../support/litellm.js';
import { repoRoot } from '../support/paths.js';
import { freePorts } from '../support/controlplane.js';

const execFileP = promisify(execFile);

let dir: string;
let template: string;
let keyEnv: { name: string; secretRef: string };
let nginx: string;

beforeAll(async () => {
  const { stdout } = await execFileP('bash', [path.join(repoRoot, 'scripts/install-nginx.sh')], { maxBuffer: 1 << 22 });
  nginx = stdout.trim().split('\n').at(-1)!;
  dir = mkdtempSync(path.join(os.tmpdir(), `llmstack-litellm-${process.pid}-nginx-`));
  const catalog = await loadCatalog();
  const stack = await loadSpec(path.join(repoRoot, 'examples/three-clusters.yaml'), catalog);
  const { files } = renderStack(stack, catalog);
  const d = deployedBundle(files, 'bundles/ollama', renderedClusterLabels(files, 'llm-models', 'models'))!;
  const docs = d.files.get('ollama.yaml')!;
  template = (docs.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> }).data['default.conf.template']!;
  const svc = docs.find((o) => o.kind === 'Service') as { spec: { template: { spec: { containers: { name: string; env?: { name: string; valueFrom?: { secretKeyRef: { name: string } } }[] }[] } } } };
  const auth = svc.spec.template.spec.containers.find((c) => c.name === 'auth')!;
  const e = auth.env!.find((x) => x.valueFrom)!;
  keyEnv = { name: e.name, secretRef: e.valueFrom!.secretKeyRef.name };
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

describe('the auth proxy of an exposed Ollama (three-clusters: llm-models/models)', () => {
  it('passes only requests with the endpoint key, and never forwards the key to Ollama', async () => {
    expect(keyEnv).toStrictEqual({ name: 'OLLAMA_API_KEY', secretRef: 'fleet-demo-llm-models-models-ollama-key' });
    expect(template).toContain('    listen 8080;\n');
    expect(template).toContain('        proxy_pass http://127.0.0.1:11434;\n');

    const key = `sk-${'ab'.repeat(32)}`;
    const substituted = await new Promise<string>((resolve, reject) => {
      const p = spawn('envsubst', [`\${${keyEnv.name}}`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [keyEnv.name]: key } });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      p.on('error', (e) => reject(new Error(`envsubst (Debian package gettext-base) is needed: ${e.message}`)));
      p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`envsubst exited ${code}`))));
      p.stdin.end(template);
    });
    expect(substituted).toContain(`if ($http_authorization != "Bearer ${key}")`);

    const fake: FakeOllama = await startFakeOllama({ name: 'models', models: ['qwen2.5:0.5b'] });
    const port = await freePort();
    const conf = substituted.replace('    listen 8080;\n', `    listen 127.0.0.1:${port};\n`).replace('http://127.0.0.1:11434;', `http://127.0.0.1:${fake.port};`);
    const nginxConf = path.join(dir, 'nginx.conf');
    writeFileSync(
      nginxConf,
      [
        'worker_processes 1;',
        `pid ${dir}/nginx.pid;`,
        'error_log stderr warn;',
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
        conf,
        '}',
        '',
      ].join('\n'),
    );
    await execFileP(nginx, ['-t', '-p', dir, '-c', nginxConf, '-e', 'stderr']);
    const proc = spawn(nginx, ['-p', dir, '-c', nginxConf, '-e', 'stderr', '-g', 'daemon off;'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    watchProcessGroup(dir, proc.pid!);
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    try {
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      for (;;) {
        const up = await fetch(`${url}/`, { signal: AbortSignal.timeout(1_000) }).then(() => true, () => false);
        if (up) break;
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const chat = (auth?: string) =>
        fetch(`${url}/api/chat`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...(auth ? { Authorization: auth } : {}) },
          body: JSON.stringify({ model: 'qwen2.5:0.5b', messages: [{ role: 'user', content: 'hi' }] }),
        });
      expect((await chat(undefined)).status).toBe(401);
      expect((await chat(`Bearer ${key}x`)).status).toBe(401);
      expect((await chat(key)).status).toBe(401);
      expect(fake.requests.filter((r) => r.path === '/api/chat')).toStrictEqual([]);

      const ok = await chat(`Bearer ${key}`);
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { message: { content: string } }).message.content).toBe('models (qwen2.5:0.5b) heard: hi');
      expect(fake.completions().map((r) => r.authorization)).toStrictEqual([undefined]);
    } finally {
      if (proc.pid && proc.exitCode === null) process.kill(-proc.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (proc.pid && proc.exitCode === null) process.kill(-proc.pid, 'SIGKILL');
      await fake.stop();
    }
  }, 120_000);
});
