// URLs that end up in Git (spec.git.url in the Fleet GitRepos, apiBase in the LiteLLM config) or on
// a git command line (--remote): refused when they carry a credential, and redacted in every message.

export interface UrlProblem {
  message: string;
  fix: string;
}

const CREDENTIAL_FIX =
  'remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName';

/** Query parameter names that carry a credential (GitLab's private_token, S3's X-Amz-Signature, ...). */
const SECRET_PARAM = /token|secret|passw|pwd|key|auth|sig|credential|session/i;

// Anything below 0x21 (control characters and space) or DEL: git and Fleet would split or mangle it.
const UNPRINTABLE = /[\u0000-\u0020\u007f]/;

/**
 * Checks a Git remote URL. `local` also allows file:// and absolute paths (a --remote on this machine);
 * the URL Fleet pulls from must be one a cluster can reach.
 */
export function checkGitUrl(url: string, opts: { local?: boolean } = {}): UrlProblem | undefined {
  if (url.startsWith('-')) {
    return { message: 'a Git URL cannot start with "-" (git would read it as an option)', fix: 'write the URL itself, e.g. https://git.example.com/team/gitops.git' };
  }
  if (UNPRINTABLE.test(url)) {
    return { message: 'the URL contains a space or a control character', fix: 'remove it; percent-encode a space in a path as %20' };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (opts.local && url.startsWith('/')) return undefined;
    if (/^[A-Za-z0-9+.-]+::/.test(url)) return { message: 'git remote helpers ("transport::address") are not supported', fix: 'use an https:// or ssh:// URL' };
    // scp-like syntax: [user@]host:path, as git and Fleet accept for SSH.
    const scp = /^(?:([A-Za-z0-9._~-]+)@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/.exec(url);
    if (scp && !scp[3]!.includes('@')) return undefined;
    return { message: 'is not a Git URL llmstack supports', fix: `use https://HOST/PATH.git, ssh://git@HOST/PATH.git or git@HOST:PATH.git${opts.local ? ', file:///PATH or an absolute path' : ''}` };
  }
  const allowed = opts.local ? ['https', 'http', 'ssh', 'git', 'file'] : ['https', 'http', 'ssh', 'git'];
  if (!allowed.includes(scheme)) {
    return { message: `the URL scheme "${scheme}" is not supported`, fix: `use one of: ${allowed.map((s) => `${s}://`).join(', ')}` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { message: 'is not a valid URL', fix: 'check the host name and the port' };
  }
  if (parsed.password) {
    return { message: 'the URL carries a password or token: a plaintext secret is refused (it would be stored in the repo and in Fleet objects)', fix: CREDENTIAL_FIX };
  }
  if (parsed.username && (scheme === 'https' || scheme === 'http')) {
    return { message: 'the URL carries a user name, which for HTTP is where a token hides: refused (it would be stored in the repo and in Fleet objects)', fix: CREDENTIAL_FIX };
  }
  if (parsed.search || parsed.hash) {
    return { message: 'a Git URL has no query string or fragment, and one can carry a token: refused', fix: 'remove everything from the "?" or "#" on; credentials come from LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD' };
  }
  return undefined;
}

/** Checks an HTTP endpoint written into generated config (LiteLLM's apiBase). */
export function checkEndpointUrl(url: string): UrlProblem | undefined {
  if (UNPRINTABLE.test(url)) return { message: 'the URL contains a space or a control character', fix: 'remove it' };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { message: 'is not a valid URL', fix: 'write it as http(s)://HOST[:PORT]/PATH, e.g. http://vllm.models.svc:8000/v1' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { message: `the URL scheme "${parsed.protocol.replace(/:$/, '')}" is not supported`, fix: 'use an http:// or https:// URL' };
  }
  if (parsed.username || parsed.password) {
    return {
      message: 'the URL carries a user name or password: a plaintext secret is refused (it would be committed to Git)',
      fix: 'remove it from the URL and put the key in a Secret: apiKey: {secretRef: {name: NAME, key: KEY}}',
    };
  }
  const secretParam = [...parsed.searchParams.keys()].find((k) => SECRET_PARAM.test(k));
  if (secretParam !== undefined) {
    return {
      message: `the query parameter "${secretParam}" looks like a credential: a plaintext secret is refused (it would be committed to Git)`,
      fix: 'remove it from the URL and put the key in a Secret: apiKey: {secretRef: {name: NAME, key: KEY}}',
    };
  }
  return undefined;
}

/**
 * Hides credentials in text meant for a terminal or a log: the user part of any URL, query strings,
 * Authorization headers, and any of the given secret values wherever they appear.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out
    .replace(/Authorization:\s*(Basic|Bearer|token)\s+\S+/gi, 'Authorization: $1 ***')
    .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s]+@/g, '$1***@')
    .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s?#]*)[?#][^\s'"]*/g, '$1?***');
}
