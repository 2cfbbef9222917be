// A small stand-in for an Ollama server: the HTTP paths LiteLLM 1.77's `ollama/` and `ollama_chat/`
// providers call (litellm/llms/ollama/completion/transformation.py: POST /api/generate and
// /api/show; litellm/llms/ollama/chat/transformation.py: POST /api/chat; common_utils.py: GET
// /api/tags), in the JSON shapes Ollama 0.12 answers with, streaming as NDJSON when asked. It records
// every request so a test can see what reached it, and, when given a key, refuses requests without
// `Authorization: Bearer <key>` the way an authenticating endpoint in front of Ollama would.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FakeOllamaRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  host: string | undefined;
  body: Record<string, unknown> | undefined;
  status: number;
}

export interface FakeOllama {
  /** http(s)://127.0.0.1:<port> */
  url: string;
  port: number;
  requests: FakeOllamaRequest[];
  /** Requests that were answered by a model (chat or generate, 200). */
  completions(): FakeOllamaRequest[];
  stop(): Promise<void>;
}

export interface FakeOllamaOptions {
  /** Shown in every answer, so a test can tell which server answered. */
  name: string;
  /** Model tags it serves, e.g. "qwen2.5:0.5b". */
  models: string[];
  /** When set, every /api/ request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Serve HTTPS with this certificate (PEM) instead of HTTP. */
  tls?: { key: string; cert: string };
}

const MAX_BODY = 1 << 20;

/** The text every answer carries: which server, which model, and the last user message. */
export function fakeAnswer(name: string, model: string, prompt: string): string {
  return `${name} (${model}) heard: ${prompt}`;
}

export async function startFakeOllama(opts: FakeOllamaOptions): Promise<FakeOllama> {
  const requests: FakeOllamaRequest[] = [];
  const served = new Set(opts.models);
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      let body: Record<string, unknown> | undefined;
      const text = Buffer.concat(chunks).toString('utf8');
      const record: FakeOllamaRequest = {
        method: req.method ?? 'GET',
        path,
        authorization: req.headers.authorization,
        host: req.headers.host,
        body: undefined,
        status: 0,
      };
      requests.push(record);
      const reply = (status: number, payload: unknown, contentType = 'application/json') => {
        record.status = status;
        res.writeHead(status, { 'Content-Type': contentType });
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
      };
      if (size > MAX_BODY) return reply(413, { error: 'request too large' });
      if (text) {
        try {
          body = JSON.parse(text) as Record<string, unknown>;
          record.body = body;
        } catch {
          return reply(400, { error: 'invalid JSON body' });
        }
      }
      if (opts.apiKey !== undefined && path.startsWith('/api/') && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        return reply(401, { error: 'unauthorized' });
      }
      const model = typeof body?.model === 'string' ? body.model : typeof body?.name === 'string' ? body.name : '';
      const now = new Date().toISOString();
      const unknownModel = () => reply(404, { error: `model '${model}' not found` });

      if (req.method === 'GET' && path === '/') return reply(200, 'Ollama is running', 'text/plain');
      if (req.method === 'GET' && path === '/api/version') return reply(200, { version: '0.12.6' });
      if (req.method === 'GET' && path === '/api/tags') {
        return reply(200, {
          models: opts.models.map((m) => ({
            name: m,
            model: m,
            modified_at: now,
            size: 1,
            digest: 'sha256:0',
            details: { format: 'gguf', family: 'fake', parameter_size: '0.5B', quantization_level: 'Q4_K_M' },
          })),
        });
      }
      if (req.method === 'POST' && path === '/api/show') {
        if (!served.has(model)) return unknownModel();
        return reply(200, {
          modelfile: `FROM ${model}`,
          parameters: '',
          template: '{{ .Prompt }}',
          details: { format: 'gguf', family: 'fake', parameter_size: '0.5B', quantization_level: 'Q4_K_M' },
          model_info: { 'general.architecture': 'fake', 'fake.context_length': 4096 },
          capabilities: ['completion'],
        });
      }
      if (req.method === 'POST' && (path === '/api/chat' || path === '/api/generate')) {
        if (!served.has(model)) return unknownModel();
        const prompt =
          path === '/api/chat'
            ? String(((body?.messages as { role: string; content: string }[] | undefined) ?? []).filter((m) => m.role === 'user').at(-1)?.content ?? '')
            : String(body?.prompt ?? '');
        const content = fakeAnswer(opts.name, model, lastLine(prompt));
        const stats = { total_duration: 1000, load_duration: 1, prompt_eval_count: 3, prompt_eval_duration: 1, eval_count: 5, eval_duration: 1 };
        const piece = (text: string, done: boolean) =>
          path === '/api/chat'
            ? { model, created_at: now, message: { role: 'assistant', content: text }, done, ...(done ? { done_reason: 'stop', ...stats } : {}) }
            : { model, created_at: now, response: text, done, ...(done ? { done_reason: 'stop', context: [1, 2, 3], ...stats } : {}) };
        if (body?.stream === true) {
          record.status = 200;
          res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
          res.write(`${JSON.stringify(piece(content, false))}\n`);
          res.end(`${JSON.stringify(piece('', true))}\n`);
          return;
        }
        return reply(200, piece(content, true));
      }
      return reply(404, { error: `no route ${req.method} ${path}` });
    });
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    completions: () => requests.filter((r) => r.status === 200 && (r.path === '/api/chat' || r.path === '/api/generate')),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// LiteLLM's `ollama/` provider flattens a chat into one prompt; the user's text is its last line.
function lastLine(s: string): string {
  return s.trim().split('\n').at(-1)?.trim() ?? '';
}
