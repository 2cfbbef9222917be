// A small model registry on loopback that Ollama 0.12.6's `ollama pull` downloads from, in the shape
// its pull code expects (server/images.go pullModelManifest, server/download.go downloadBlob):
//   GET  /v2/<namespace>/<model>/manifests/<tag>  the manifest (config + layers, each digest and size)
//   HEAD /v2/<namespace>/<model>/blobs/<digest>   Content-Length of the blob
//   GET  /v2/<namespace>/<model>/blobs/<digest>   a 307 to the blob's "direct URL" on another host name
//                                                (Ollama follows only redirects to the same host and
//                                                takes the Location of the first that leaves it)
//   GET  /data/<digest> with Range                the bytes, in the parts Ollama asks for
// It serves HTTPS (Ollama pulls over HTTPS unless told --insecure) with a certificate for 127.0.0.1
// and localhost, and counts every blob byte it sends, which is what a test or benchmark compares.
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { makeServingCertificate, type ServingCertificate } from './tls.js';


export interface Blob {
  digest: string;
  size: number;
  file: string;
  mediaType: string;
}

export interface RegistryModel {
  /** `<namespace>/<model>:<tag>`, e.g. `library/tiny:v1`. */
  name: string;
  config: Blob;
  layers: Blob[];
}

export interface OllamaRegistry {
  /** `127.0.0.1:<port>`: a model is pulled as `<host>/<namespace>/<model>:<tag>`. */
  host: string;
  /** Blob bytes sent since start (or the last reset). */
  bytesSent(): number;
  resetCount(): void;
  /** Requests seen, `<METHOD> <path>`. */
  requests: string[];
  close(): Promise<void>;
}

/** A CA and a server certificate for 127.0.0.1 and localhost; Go reads the CA from SSL_CERT_FILE. */
export function registryCertificate(dir: string): Promise<ServingCertificate> {
  return makeServingCertificate(dir, { caSubject: 'llmstack test registry CA', commonName: '127.0.0.1', sans: ['IP:127.0.0.1', 'DNS:localhost'] });
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/**
 * A GGUF v3 file of about `bytes` (one F32 tensor of zeros after a header with general.architecture),
 * so Ollama's `show` can read its metadata as it does for a real model. Written in 8 MiB chunks.
 */
export async function writeGguf(file: string, bytes: number): Promise<void> {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s: string) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(1); // tensors
  u64(2); // key/value pairs
  str('general.architecture'); u32(8); str('llama');
  str('general.name'); u32(8); str('llmstack-cache-test');
  const headerGuess = 256;
  const elements = Math.max(1, Math.floor((bytes - headerGuess) / 4));
  str('weights'); u32(1); u64(elements); u32(0 /* F32 */); u64(0 /* offset in the data section */);
  let header = Buffer.concat(parts);
  header = Buffer.concat([header, Buffer.alloc((32 - (header.length % 32)) % 32)]);
  const fh = await open(file, 'w');
  try {
    await fh.write(header);
    const chunk = Buffer.alloc(8 << 20);
    let left = elements * 4;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      await fh.write(chunk, 0, n);
      left -= n;
    }
  } finally {
    await fh.close();
  }
}

/** A model of about `bytes` in `dir`: the GGUF layer and the config blob Ollama's manifest points at. */
export async function makeModel(dir: string, name: string, bytes: number): Promise<RegistryModel> {
  const modelFile = path.join(dir, `${name.replace(/[/:]/g, '_')}.gguf`);
  await writeGguf(modelFile, bytes);
  const configFile = path.join(dir, `${name.replace(/[/:]/g, '_')}.config.json`);
  // Ollama shares blobs between models by digest: each model gets a config of its own.
  writeFileSync(configFile, JSON.stringify({ model_format: 'gguf', model_family: 'llama', model_families: ['llama'], model_type: name, file_type: 'F32' }));
  const blob = async (file: string, mediaType: string): Promise<Blob> => ({ digest: await sha256File(file), size: (await stat(file)).size, file, mediaType });
  return {
    name,
    config: await blob(configFile, 'application/vnd.docker.container.image.v1+json'),
    layers: [await blob(modelFile, 'application/vnd.ollama.image.model')],
  };
}

/** Total bytes of a model's blobs: what a pull into an empty models directory downloads. */
export const modelBytes = (m: RegistryModel) => m.config.size + m.layers.reduce((n, l) => n + l.size, 0);

export async function startOllamaRegistry(opts: { models: RegistryModel[]; tls: { key: string; cert: string } }): Promise<OllamaRegistry> {
  const byDigest = new Map<string, Blob>();
  const manifests = new Map<string, string>();
  for (const m of opts.models) {
    for (const b of [m.config, ...m.layers]) byDigest.set(b.digest, b);
    const [repo, tag] = m.name.split(':') as [string, string];
    const body = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: m.config.mediaType, digest: m.config.digest, size: m.config.size },
      layers: m.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    manifests.set(`/v2/${repo}/manifests/${tag}`, JSON.stringify(body));
  }
  let sent = 0;
  const requests: string[] = [];
  let port = 0;
  const server = https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://x');
    requests.push(`${req.method} ${url.pathname}`);
    const manifest = manifests.get(url.pathname);
    if (manifest !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json', 'Content-Length': Buffer.byteLength(manifest) });
      res.end(req.method === 'GET' ? manifest : undefined);
      return;
    }
    const blobPath = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blobPath) {
      const blob = byDigest.get(blobPath[1]!);
      if (!blob) return void res.writeHead(404).end();
      if (req.method === 'HEAD') return void res.writeHead(200, { 'Content-Length': blob.size }).end();
      // The direct URL on another host name than the registry's, as registry.ollama.ai answers.
      return void res.writeHead(307, { Location: `https://localhost:${port}/data/${blob.digest}` }).end();
    }
    const data = /^\/data\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    const blob = data && byDigest.get(data[1]!);
    if (blob && req.method === 'GET') {
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range ? Math.min(Number(range[2]), blob.size - 1) : blob.size - 1;
      res.writeHead(range ? 206 : 200, { 'Content-Length': end - start + 1, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${blob.size}` } : {}) });
      const stream = createReadStream(blob.file, { start, end });
      stream.on('data', (c) => (sent += (c as Buffer).length));
      stream.pipe(res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    bytesSent: () => sent,
    resetCount: () => void (sent = 0),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
